"""The soak's fault schedule (tests/soak/faults.py): seeded, every kind once a round, inside the run."""

from tests.soak.faults import COOL_DOWN_SECONDS, FAULTS, WARM_UP_SECONDS, schedule


def test_a_two_minute_schedule_has_every_kind_of_fault_once():
    planned = schedule(seed=1, seconds=120)
    assert sorted(fault for _, fault in planned) == sorted(FAULTS)


def test_the_same_seed_gives_the_same_schedule_and_another_seed_another_order():
    assert schedule(seed=3, seconds=600) == schedule(seed=3, seconds=600)
    assert [f for _, f in schedule(seed=3, seconds=600)] != [f for _, f in schedule(seed=4, seconds=600)]


def test_faults_stay_between_the_warm_up_and_the_cool_down():
    for seconds in (120, 600, 1800):
        times = [at for at, _ in schedule(seed=1, seconds=seconds)]
        assert times[0] == WARM_UP_SECONDS and times[-1] < seconds - COOL_DOWN_SECONDS
        assert times == sorted(times)


def test_a_long_run_repeats_whole_rounds_of_faults():
    planned = [fault for _, fault in schedule(seed=1, seconds=1800)]
    rounds = [planned[i:i + len(FAULTS)] for i in range(0, len(planned) - len(FAULTS) + 1, len(FAULTS))]
    assert len(rounds) >= 5 and all(sorted(r) == sorted(FAULTS) for r in rounds)
