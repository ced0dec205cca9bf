"""The adapters file of `fleetray bridge`: a good file loads (YAML or JSON) and splits into
bridge actors per tenant; a bad entry fails with a message naming it, and the command exits 2."""

import json
from pathlib import Path

import pytest

from cluster.cli import main
from device_bridge.config import ConfigError, load_config

EXAMPLE = Path(__file__).parents[2] / "device_bridge" / "adapters.example.yaml"


def write(tmp_path, data, name="fleet.yaml") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data))  # JSON is YAML too
    return path


def adapter(vehicle_id="van-1", **fields):
    return {"vehicle_id": vehicle_id, "tenant_id": "acme", "port": f"/dev/{vehicle_id}", **fields}


def test_the_example_file_is_valid():
    config = load_config(EXAMPLE)
    assert [a.vehicle_id for a in config.adapters] == ["van-7", "van-8", "truck-1"]
    truck = config.adapters[2].adapter_config()
    assert truck["port"] == "socket://192.168.0.10:35000" and truck["protocol"] == "6"


def test_a_good_file_splits_into_bridges_of_one_tenant_and_at_most_n_adapters(tmp_path):
    adapters = [adapter("a1"), adapter("b1", tenant_id="beta"), adapter("a2"), adapter("a3", protocol=6)]
    for name in ("fleet.json", "fleet.yaml"):
        config = load_config(write(tmp_path, {"adapters": adapters, "adapters_per_actor": 2}, name))
        groups = [(tenant, [a.vehicle_id for a in entries]) for tenant, entries in config.groups()]
        assert groups == [("acme", ["a1", "a2"]), ("acme", ["a3"]), ("beta", ["b1"])]
    assert config.adapters[3].protocol == "6"
    assert load_config(write(tmp_path, [adapter()])).adapters_per_actor == 50, "a bare list is enough"


@pytest.mark.parametrize("entry, message", [
    ({"vehicle_id": "van-2", "port": "/dev/x"}, "adapter 2 (vehicle_id 'van-2'), tenant_id: Field required"),
    (adapter("van-2", port="socket://10.0.0.5"), "adapter 2 (vehicle_id 'van-2'), port: 'socket://10.0.0.5' is neither"),
    (adapter("van-2", port="bluetooth://aa:bb"), "adapter 2 (vehicle_id 'van-2'), port: 'bluetooth://aa:bb'"),
    (adapter("van-2", port="socket://h:35000", baudrate=None), "adapter 2 (vehicle_id 'van-2'): baudrate: null"),
    (adapter("van-2", protocol="Z"), "adapter 2 (vehicle_id 'van-2'), protocol: unknown protocol 'Z'"),
    (adapter("van-2", baud_rate=9600), "adapter 2 (vehicle_id 'van-2'), baud_rate: Extra inputs are not permitted"),
    (adapter("van 2"), "adapter 2 (vehicle_id 'van 2'), vehicle_id: String should match pattern"),
    (adapter("van-2", fast_hz=0), "adapter 2 (vehicle_id 'van-2'), fast_hz: Input should be greater than 0"),
    (adapter("van-1", port="/dev/other"), "each vehicle_id may appear once; repeated: van-1"),
])
def test_a_bad_entry_is_named_in_the_message(tmp_path, entry, message):
    with pytest.raises(ConfigError) as raised:
        load_config(write(tmp_path, {"adapters": [adapter("van-1"), entry]}))
    assert message in str(raised.value)


def test_unreadable_files_are_config_errors(tmp_path):
    for path, message in [(tmp_path / "missing.yaml", "cannot read it"),
                          (write(tmp_path, {"adapters": []}), "adapters: List should have at least 1 item")]:
        with pytest.raises(ConfigError, match=message):
            load_config(path)
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    with pytest.raises(ConfigError, match="cannot read it"):
        load_config(broken)


def test_the_command_exits_2_with_the_message_before_touching_the_stack(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FLEETRAY_STATE_DIR", str(tmp_path / "state"))
    with pytest.raises(SystemExit) as exited:
        main(["bridge", "--config", str(write(tmp_path, {"adapters": [adapter(tenant_id="")]}))])
    assert exited.value.code == 2
    assert "adapter 1 (vehicle_id 'van-1'), tenant_id: String should have at least 1 character" in capsys.readouterr().err
