"""Fleet simulator: OBD-II time series with physically motivated degradation and ground truth.

No real fleet data exists here, so models train on a simulated fleet. Every vehicle-day yields
one window of SAMPLES_PER_DAY samples, SAMPLE_SECONDS apart, of the PIDs the device bridge
reads, named and in the units of python-obd (see device_bridge/synthetic.py). A window is a
restart during the working day: three key-on samples with the engine off, one crank sample,
then driving.

Vehicles. Each has a climate (mean ambient -5 / 12 / 32 degC for cold / temperate / hot, plus a
seasonal sinusoid and daily weather), a duty cycle (urban: stop-and-go at ~35 km/h; highway:
~100 km/h, rare stops; delivery: frequent stops, many cranks per day), a payload that varies
from day to day within the duty's range (vehicle mass 1.0-1.4 x unladen for urban, 1.0-1.3 for
highway, 1.2-1.5 for delivery), a noise level n and per-vehicle variation (thermostat set point, radiator capacity, battery
resistance and aging rate, brake pad compound, driver aggressiveness).

Sensor model. Every PID gets white noise of a PID-specific size times n; each sample drops out
(NaN, as a missed OBD response) with probability 0.01 n; the coolant sensor drifts (a random
walk in its bias, 0.05 n degC per day) and the voltage reading has a per-vehicle offset.

Engine failure (label: fails within HORIZON_DAYS). A share of vehicles develop a fault at a
random onset day; its severity s grows as ((day - onset) / duration) ** 2 and the engine fails
(leaves service) when s reaches 1. Two mechanisms, one dominant per vehicle, the other at 30 %:
- cooling degradation (radiator fouling, water-pump wear): the heat-rejection capacity UA
  falls as 1 - 0.9 s, so the equilibrium coolant temperature, max(thermostat, ambient +
  90 heat / UA) with heat = load x RPM / 3000 (the radiator holds the thermostat at full
  load in 35 degC air when healthy), creeps above the thermostat under load (more in a hot
  climate, barely in a cold one) up to boiling over at COOLANT_BOIL;
- misfire (worn plugs, coils, injectors): crankshaft speed becomes rough (RPM jitter of
  up to 250 rpm, mostly seen at idle), and the pedal needed for the same road load rises by
  1 + 0.35 s while calculated load rises only 1 + 0.1 s: the load/throttle ratio falls.

Battery (labels: state of health SOH = capacity / nominal, remaining useful life in days until
SOH < BATTERY_EOL_SOH, capped at RUL_CAP_DAYS). A 12 V lead-acid starter battery with the
simple equivalent circuit V = OCV(SOC) - I R (the idea behind NASA ProgPy's battery models,
written here without it). Capacity fades daily by calendar aging with an Arrhenius factor
(Ea/R = 6000 K, battery at ambient + 10 degC) plus cycling wear per crank; the internal
resistance grows as R0 (1 + 5 (1 - SOH)). It shows in CONTROL_MODULE_VOLTAGE as: a lower
rest voltage (OCV = 11.8 + 0.9 SOC; overnight drain and short trips take a larger share of a
faded capacity), a deeper crank sag (crank current is higher in the cold, resistance higher
too) and a charging voltage that sags at idle while the alternator refills a low battery; the
regulator lowers its set point as the battery warms (temperature compensation).

Brake wear (label: pad wear %). Pad wear is proportional to the kinetic energy the friction
brakes dissipate: each deceleration beyond what drag and engine braking give (0.5 m/s^2), with
a harsh-braking factor (hot pads wear faster above 3 m/s^2), scaled from the window to the
day's distance. Pads start at a random wear consistent with the fleet's record of kilometres
since the last pad change (KM_SINCE_PAD_CHANGE, a maintenance record, not a PID), chosen so
no pad reaches 100 % during the simulation.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

import numpy as np

SIMULATOR_VERSION = 3
PIDS: dict[str, str] = {
    "RPM": "revolutions_per_minute",
    "SPEED": "kilometer_per_hour",
    "ENGINE_LOAD": "percent",
    "THROTTLE_POS": "percent",
    "COOLANT_TEMP": "degree_Celsius",
    "CONTROL_MODULE_VOLTAGE": "volt",
    "INTAKE_TEMP": "degree_Celsius",
    "FUEL_LEVEL": "percent",
}
# white-noise standard deviation per PID at noise level 1
NOISE_STD = {"RPM": 15.0, "SPEED": 1.0, "ENGINE_LOAD": 1.5, "THROTTLE_POS": 1.0, "COOLANT_TEMP": 0.5,
             "CONTROL_MODULE_VOLTAGE": 0.03, "INTAKE_TEMP": 0.5, "FUEL_LEVEL": 0.5}
CLIMATES = {"cold": -5.0, "temperate": 12.0, "hot": 32.0}


@dataclass(frozen=True)
class Duty:
    cruise_kmh: float
    stop_prob: float  # per sample while moving
    km_per_day: float
    mass_low: float  # vehicle mass relative to an unladen van, lightest day
    mass_high: float  # heaviest day
    cranks_per_day: float
    overnight_drain: float  # share of nominal capacity not recharged by the day's trips


DUTIES = {
    "urban": Duty(35.0, 0.05, 60.0, 1.0, 1.4, 4.0, 0.08),
    "highway": Duty(100.0, 0.004, 300.0, 1.0, 1.3, 2.0, 0.02),
    "delivery": Duty(30.0, 0.09, 120.0, 1.2, 1.5, 20.0, 0.12),
}
SAMPLE_SECONDS = 2.0
SAMPLES_PER_DAY = 128
ENGINE_OFF_SAMPLES = 3  # key-on samples before the crank sample
HORIZON_DAYS = 14
BATTERY_EOL_SOH = 0.6
RUL_CAP_DAYS = 365
COOLANT_BOIL = 125.0  # pressurised coolant boils over: the engine fails


@dataclass(frozen=True)
class FleetConfig:
    """What to simulate; with the seed it fully determines the fleet (see fingerprint)."""

    n_vehicles: int
    days: int
    climates: tuple[str, ...]
    duties: tuple[str, ...]
    noise: tuple[float, float]
    engine_fault_share: float = 0.4
    seed: int = 0
    id_prefix: str = "sim"

    def fingerprint(self) -> str:
        blob = json.dumps({"simulator_version": SIMULATOR_VERSION, **asdict(self)}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()


@dataclass
class Fleet:
    """Arrays indexed [vehicle] or [vehicle, day] or, for signals, [vehicle, day, sample]."""

    config: FleetConfig
    vehicle_ids: np.ndarray
    climate: np.ndarray
    duty: np.ndarray
    noise: np.ndarray
    signals: dict[str, np.ndarray]
    in_service: np.ndarray  # False from the engine failure on
    engine_severity: np.ndarray
    engine_fails_soon: np.ndarray
    battery_soh: np.ndarray
    battery_rul_days: np.ndarray
    brake_wear_pct: np.ndarray
    km_since_pad_change: np.ndarray


def simulate(config: FleetConfig) -> Fleet:
    rng = np.random.default_rng(config.seed)
    V, D, S = config.n_vehicles, config.days, SAMPLES_PER_DAY
    climate = rng.choice(np.array(config.climates), V)
    duty_name = rng.choice(np.array(config.duties), V)
    duty = {f: np.array([getattr(DUTIES[d], f) for d in duty_name]) for f in Duty.__dataclass_fields__}
    noise = rng.uniform(*config.noise, V)

    # ambient per vehicle-day, including the battery's future for its remaining life
    horizon = D + RUL_CAP_DAYS
    day = np.arange(horizon)
    ambient = (np.array([CLIMATES[c] for c in climate])[:, None]
               + 6.0 * np.sin(2 * np.pi * day / 365 + rng.uniform(0, 2 * np.pi, V)[:, None])
               + rng.normal(0, 3.0, (V, horizon)))

    severity, mix_cooling, fail_day = _engine_fault(rng, config, V, D)
    in_service = np.arange(D)[None, :] < fail_day[:, None]
    # labelled from the failure day itself, which may lie after the simulated days: a vehicle
    # failing on day D + 3 does fail within the horizon of day D - 5
    fails_soon = in_service & (fail_day[:, None] - np.arange(D)[None, :] <= HORIZON_DAYS)

    soh, rul, resistance, soc = _battery(rng, duty, ambient, V, D)
    amb = ambient[:, :D]
    mass = rng.uniform(duty["mass_low"][:, None], duty["mass_high"][:, None], (V, D))
    signals, brake_energy = _drive(rng, duty, mass, noise, amb, np.clip(severity, 0, 1), mix_cooling,
                                   soc, resistance, V, D, S)
    wear, km = _brakes(rng, duty, mass, brake_energy, V, D)
    _sensor_effects(rng, signals, noise, V, D, S)
    return Fleet(config, np.array([f"{config.id_prefix}-{i:05d}" for i in range(V)]), climate, duty_name,
                 noise, signals, in_service, severity, fails_soon, soh, rul, wear, km)


def _engine_fault(rng: np.random.Generator, config: FleetConfig, V: int, D: int
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Severity per vehicle-day, the cooling share of the fault per vehicle, and the day the
    engine fails (severity reaches 1; infinite for a healthy engine), simulated days or not."""
    faulty = rng.random(V) < config.engine_fault_share
    onset = rng.uniform(-20, D, V)
    duration = rng.uniform(30, 45, V)
    t = (np.arange(D)[None, :] - onset[:, None]) / duration[:, None]
    severity = np.where(faulty[:, None] & (t > 0), np.clip(t, 0, None) ** 2, 0.0)
    cooling_dominant = rng.random(V) < 0.5
    fail_day = np.where(faulty, np.ceil(onset + duration), np.inf)
    return severity, np.where(cooling_dominant, 1.0, 0.3), fail_day


def _battery(rng: np.random.Generator, duty: dict[str, np.ndarray], ambient: np.ndarray, V: int, D: int
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    battery_temp = ambient + 10.0
    arrhenius = np.exp(6000.0 * (1 / 298.15 - 1 / (battery_temp + 273.15)))
    rate = rng.lognormal(0, 0.25, V)[:, None]
    fade = rate * (5e-4 * arrhenius + 2.7e-5 * duty["cranks_per_day"][:, None])
    soh_all = rng.uniform(0.62, 1.0, V)[:, None] - np.cumsum(fade, axis=1) + fade[:, :1]
    below = soh_all < BATTERY_EOL_SOH
    eol_day = np.where(below.any(axis=1), below.argmax(axis=1), np.inf)
    soh = soh_all[:, :D]
    rul = np.clip(eol_day[:, None] - np.arange(D)[None, :], 0, RUL_CAP_DAYS)
    resistance = rng.uniform(0.005, 0.007, V)[:, None] * (1 + 5 * (1 - soh))
    drain = duty["overnight_drain"][:, None] / soh + rng.normal(0, 0.02, (V, D))
    soc = np.clip(0.97 - drain, 0.4, 1.0)
    return soh, rul.astype(float), resistance, soc


def _drive(rng: np.random.Generator, duty: dict[str, np.ndarray], mass: np.ndarray, noise: np.ndarray,
           ambient: np.ndarray, severity: np.ndarray, mix_cooling: np.ndarray, soc: np.ndarray, resistance: np.ndarray,
           V: int, D: int, S: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Step all vehicle-days at once through the window; returns the clean signals and the
    friction-brake energy per vehicle-day (kJ per tonne over the window)."""
    N = V * D
    per_day = lambda a: np.broadcast_to(np.asarray(a, float).reshape(V, -1), (V, D)).reshape(N)
    s_cool = per_day(severity * mix_cooling[:, None])
    s_mis = per_day(severity * (1.3 - mix_cooling[:, None]))
    amb = per_day(ambient)
    cruise = per_day(duty["cruise_kmh"]) * rng.uniform(0.8, 1.2, N)
    stop_prob, mass = per_day(duty["stop_prob"]), per_day(mass)
    aggressive = per_day(rng.lognormal(0, 0.3, V))
    thermostat = per_day(rng.uniform(88, 94, V))
    ua = per_day(rng.uniform(0.9, 1.1, V)) * (1 - 0.9 * s_cool)
    soc_n, r_n = soc.reshape(N), resistance.reshape(N)
    r_cold = r_n * np.exp(0.02 * np.clip(25 - amb, 0, None))
    ocv = 11.8 + 0.9 * soc_n
    v_reg = np.clip(14.4 - 0.02 * (amb + 10 - 25), 13.8, 14.8)
    crank_amps = 120 * (1 + 0.015 * np.clip(20 - amb, 0, None))

    out = {pid: np.zeros((N, S), np.float32) for pid in PIDS}
    coolant = amb + (thermostat - amb) * rng.uniform(0.6, 1.0, N)
    fuel = rng.uniform(15, 95, N)
    speed = np.zeros(N)
    stopped = np.zeros(N, int)
    brake_energy = np.zeros(N)
    dt = SAMPLE_SECONDS
    for t in range(S):
        running = t > ENGINE_OFF_SAMPLES
        if running:
            brake = (rng.random(N) < stop_prob) & (speed > 5) & (stopped == 0)
            decel = rng.gamma(4.0, 0.6, N) * aggressive
            cruise_step = speed + 0.25 * (cruise - speed) + rng.normal(0, 2.5, N)
            new = np.where(stopped > 0, 0.0, np.where(brake, speed - decel * dt * 3.6, cruise_step))
            new = np.clip(new, 0, 140)
            stopped = np.where(stopped > 0, stopped - 1, np.where(brake & (new == 0), rng.integers(2, 15, N), 0))
            accel = (new - speed) / 3.6 / dt
            friction = np.clip(-accel - 0.5, 0, None) / np.maximum(-accel, 1e-9)
            harsh = 1 + 1.5 * np.clip(-accel - 3.0, 0, None) / 3.0
            brake_energy += np.where(accel < 0, 0.5 * ((speed / 3.6) ** 2 - (new / 3.6) ** 2) * friction * harsh, 0) / 1000
            speed = new
            gear = np.clip(np.ceil(speed / 22), 1, 6)
            rpm = np.where(speed < 3, 750.0, 900 + speed * 70 / gear + 400 * np.clip(accel, 0, None))
            rpm = rpm + rng.normal(0, 1, N) * 250 * s_mis * np.where(speed < 3, 1.0, 0.4)
            demand = np.where(speed < 3, 4.0, np.clip(8 + mass * (0.12 * speed + 0.0018 * speed ** 2
                                                                  + 9 * np.clip(accel, 0, None)), 0, 90))
            throttle = np.clip(demand * (1 + 0.35 * s_mis), 0, 100)
            load = np.clip(10 + 0.9 * demand * (1 + 0.1 * s_mis), 0, 100)
            heat = load / 100 * rpm / 3000
            coolant_eq = np.clip(amb + 90 * heat / ua, thermostat, COOLANT_BOIL)
            volts = v_reg - np.where(speed < 3, 0.8, 0.2) * (1 - soc_n) * (1 + 20 * r_n)
            fuel = fuel - 0.002 * load * dt / 60
        else:
            rpm = np.full(N, 200.0 if t == ENGINE_OFF_SAMPLES else 0.0)
            throttle = load = np.zeros(N)
            coolant_eq = coolant
            volts = ocv - (crank_amps * r_cold if t == ENGINE_OFF_SAMPLES else 0.0)
        coolant = coolant + dt / 60 * (coolant_eq - coolant)
        out["RPM"][:, t], out["SPEED"][:, t] = rpm, speed
        out["ENGINE_LOAD"][:, t], out["THROTTLE_POS"][:, t] = load, throttle
        out["COOLANT_TEMP"][:, t], out["CONTROL_MODULE_VOLTAGE"][:, t] = coolant, volts
        out["INTAKE_TEMP"][:, t] = amb + 12 * np.exp(-speed / 30)
        out["FUEL_LEVEL"][:, t] = np.clip(fuel, 0, 100)
    return {pid: a.reshape(V, D, S) for pid, a in out.items()}, brake_energy.reshape(V, D)


def _brakes(rng: np.random.Generator, duty: dict[str, np.ndarray], mass: np.ndarray, brake_energy: np.ndarray,
            V: int, D: int) -> tuple[np.ndarray, np.ndarray]:
    """Pad wear % and km since the pad change, per vehicle-day (end of day)."""
    km_per_day = duty["km_per_day"][:, None] * rng.uniform(0.85, 1.15, (V, D))
    window_km = SAMPLES_PER_DAY * SAMPLE_SECONDS / 3600 * np.maximum(duty["cruise_kmh"][:, None] * 0.7, 10)
    compound = rng.lognormal(0, 0.1, V)[:, None]
    daily_wear = 0.024 * compound * mass * brake_energy * km_per_day / window_km
    rate = daily_wear.mean(axis=1)
    headroom = np.clip(95 - rate * D, 0, None)
    start = rng.uniform(0, 1, V) * headroom
    wear = start[:, None] + np.cumsum(daily_wear, axis=1)
    km = start[:, None] / rate[:, None] * km_per_day.mean(axis=1, keepdims=True) + np.cumsum(km_per_day, axis=1)
    return wear, km


def _sensor_effects(rng: np.random.Generator, signals: dict[str, np.ndarray], noise: np.ndarray,
                    V: int, D: int, S: int) -> None:
    """White noise, coolant sensor drift, voltage offset and dropouts, in place."""
    n = noise[:, None, None]
    coolant_bias = np.cumsum(rng.normal(0, 0.05, (V, D)), axis=1)[:, :, None] * n
    signals["COOLANT_TEMP"] += coolant_bias
    signals["CONTROL_MODULE_VOLTAGE"] += rng.normal(0, 0.05, (V, 1, 1)) * n
    for pid, std in NOISE_STD.items():
        signals[pid] += (rng.normal(0, std, (V, D, S)) * n).astype(np.float32)
        signals[pid][rng.random((V, D, S)) < 0.01 * n] = np.nan
    for pid in ("RPM", "SPEED", "ENGINE_LOAD", "THROTTLE_POS", "FUEL_LEVEL"):
        np.clip(signals[pid], 0, None, out=signals[pid])
