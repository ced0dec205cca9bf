"""The three model families: a GRU over the daily history of trip summaries for engine failure
(PyTorch), gradient boosted trees over window statistics for battery health and brake wear (XGBoost).

Artifacts are plain files a registry can load without this training code's state: a torch
state_dict (`model.pt`, normalisation included as buffers) or one XGBoost `<target>.ubj` per
target; load() rebuilds a family from its artifact directory and metadata.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import xgboost as xgb
from torch import nn

from ml.datasets import FAMILIES, Dataset
from ml.features import ENGINE_SUMMARIES, INPUT_NAMES
from ml.simulator import RUL_CAP_DAYS

Progress = Callable[[str], None]
THREADS = 2
EPOCHS = {"small": 12, "medium": 25, "full": 20}
BATCH = 256
DAY_DROPOUT = 0.2  # share of earlier days hidden in training
NEW_VEHICLES = 0.25  # share of training rows cut to a short history
ROUNDS = {"small": 200, "medium": 500, "full": 1000}


class EngineNet(nn.Module):
    """A GRU over a vehicle's daily trip summaries (ml/features.engine_trip_summaries), oldest
    first, then a small head on its last state. A day without a trip, or a summary a trip could
    not give, is NaN: the GRU sees a zero and a flag saying it is missing, so a new vehicle, or
    one back after days off, is judged on what there is."""

    def __init__(self, summaries: int, hidden: int = 32):
        super().__init__()
        self.register_buffer("mean", torch.zeros(1, summaries, 1))
        self.register_buffer("std", torch.ones(1, summaries, 1))
        self.gru = nn.GRU(2 * summaries, hidden, batch_first=True)
        self.head = nn.Sequential(nn.Linear(hidden, 32), nn.ReLU(), nn.Linear(32, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Histories (N, summaries, days) with NaN where missing -> failure logits (N,)."""
        present = ~torch.isnan(x)
        z = torch.where(present, (x - self.mean) / self.std, torch.zeros_like(x))
        _, last = self.gru(torch.cat([z, present.float()], dim=1).transpose(1, 2))
        return self.head(last[-1]).squeeze(1)


class EngineFamily:
    name = "engine"
    kind = "classifier"
    targets = ["fails_soon"]
    library = "torch"
    input_names = INPUT_NAMES["engine"]

    def __init__(self, seed: int):
        torch.manual_seed(seed)
        torch.set_num_threads(THREADS)
        self.seed = seed
        self.device = "cpu"
        self.net = EngineNet(len(ENGINE_SUMMARIES))

    def to(self, device: str) -> None:
        """Serving placement. One CPU thread, as for the trees: serving batches are small,
        replicas scale out, and a second intra-op thread only contends for the cores."""
        self.device = device
        self.net.to(device)
        torch.set_num_threads(1)

    def input_spec(self, train: Dataset) -> dict:
        return {"channels": self.input_names, "window": int(train.x.shape[2])}

    def fit(self, train: Dataset, val: Dataset, size: str, progress: Progress) -> None:
        x = torch.from_numpy(train.x)
        y = torch.from_numpy(train.targets["fails_soon"].astype(np.float32))
        self.net.mean.copy_(torch.from_numpy(np.nanmean(train.x, axis=(0, 2))).view(1, -1, 1))
        self.net.std.copy_(torch.from_numpy(np.nanstd(train.x, axis=(0, 2))).clamp_min(1e-3).view(1, -1, 1))
        generator = torch.Generator().manual_seed(self.seed)
        optimiser = torch.optim.Adam(self.net.parameters(), lr=3e-3)
        loss_fn = nn.BCEWithLogitsLoss()
        val_y = torch.from_numpy(val.targets["fails_soon"].astype(np.float32))
        best, best_state = np.inf, None
        for epoch in range(1, EPOCHS[size] + 1):
            start = time.perf_counter()
            self.net.train()
            for batch in torch.randperm(len(x), generator=generator).split(BATCH):
                optimiser.zero_grad()
                loss = loss_fn(self.net(_hide_days(x[batch], generator)), y[batch])
                loss.backward()
                optimiser.step()
            val_loss = float(loss_fn(torch.logit(torch.from_numpy(self.predict(val.x)["fails_soon"]), eps=1e-6), val_y))
            if val_loss < best:
                best, best_state = val_loss, {k: v.clone() for k, v in self.net.state_dict().items()}
            progress(f"epoch {epoch}/{EPOCHS[size]}  val loss {val_loss:.4f}  "
                     f"{len(x) / (time.perf_counter() - start):,.0f} histories/s")
        self.net.load_state_dict(best_state)

    @torch.no_grad()
    def predict(self, x: np.ndarray) -> dict[str, np.ndarray]:
        self.net.eval()
        logits = torch.cat([self.net(b.to(self.device)) for b in torch.from_numpy(x).split(4096)])
        return {"fails_soon": torch.sigmoid(logits).cpu().numpy()}

    def save(self, out_dir: Path) -> dict[str, str]:
        torch.save(self.net.state_dict(), out_dir / "model.pt")
        return {"fails_soon": "model.pt"}

    def load(self, out_dir: Path, files: dict[str, str]) -> None:
        self.net.load_state_dict(torch.load(out_dir / files["fails_soon"], weights_only=True))


def _hide_days(histories: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """A copy with a random DAY_DROPOUT of the earlier days missing (never today): vehicles in
    service do not drive every day, and an adapter is sometimes unplugged; and a NEW_VEHICLES
    share of the rows cut to their last 1 to all days, as for a vehicle registered lately."""
    n, days = len(histories), histories.shape[2]
    hidden = torch.rand(n, 1, days, generator=generator) < DAY_DROPOUT
    kept = torch.where(torch.rand(n, generator=generator) < NEW_VEHICLES,
                       torch.randint(1, days + 1, (n,), generator=generator), torch.full((n,), days))
    hidden |= (torch.arange(days) < days - kept[:, None]).unsqueeze(1)
    hidden[..., -1] = False
    return histories.masked_fill(hidden, float("nan"))


class _ProgressCallback(xgb.callback.TrainingCallback):
    def __init__(self, target: str, rounds: int, progress: Progress, every: int = 100):
        self.target, self.rounds, self.progress, self.every = target, rounds, progress, every
        self.start = time.perf_counter()

    def after_iteration(self, model: xgb.Booster, epoch: int, evals_log: dict) -> bool:
        if (epoch + 1) % self.every == 0:
            mae = evals_log["val"]["mae"][-1]
            rate = (epoch + 1) / (time.perf_counter() - self.start)
            self.progress(f"{self.target}: round {epoch + 1}/{self.rounds}  val MAE {mae:.4g}  {rate:,.0f} rounds/s")
        return False


class BoostedFamily:
    """One XGBoost regressor per target over the family's window statistics; predictions are
    clipped to each target's physical range (trees fitted on squared error can overshoot)."""

    kind = "regressor"
    library = "xgboost"

    def __init__(self, name: str, bounds: dict[str, tuple[float, float]], feature_names: list[str], seed: int):
        self.name, self.bounds, self.input_names, self.seed = name, bounds, feature_names, seed
        self.targets = list(bounds)
        self.boosters: dict[str, xgb.Booster] = {}

    def input_spec(self, train: Dataset) -> dict:
        return {"features": self.input_names}

    def to(self, device: str) -> None:
        """Serving placement. One CPU thread: serving batches are small, so a second OpenMP
        thread costs more in hand-offs than it saves; replicas scale out instead."""
        for booster in self.boosters.values():
            booster.set_param({"device": device, "nthread": 1})

    def fit(self, train: Dataset, val: Dataset, size: str, progress: Progress) -> None:
        params = {"objective": "reg:squarederror", "eval_metric": "mae", "max_depth": 5, "eta": 0.05,
                  "subsample": 0.8, "colsample_bytree": 0.9, "nthread": THREADS, "seed": self.seed}
        for target in self.targets:
            dtrain = xgb.DMatrix(train.x, train.targets[target], feature_names=self.input_names)
            dval = xgb.DMatrix(val.x, val.targets[target], feature_names=self.input_names)
            self.boosters[target] = xgb.train(
                params, dtrain, ROUNDS[size], evals=[(dval, "val")], early_stopping_rounds=50,
                verbose_eval=False, callbacks=[_ProgressCallback(target, ROUNDS[size], progress)])

    def predict(self, x: np.ndarray) -> dict[str, np.ndarray]:
        # inplace_predict skips building a DMatrix: most of the cost of a small serving batch.
        return {t: np.clip(b.inplace_predict(x, iteration_range=(0, b.best_iteration + 1)), *self.bounds[t])
                for t, b in self.boosters.items()}

    def save(self, out_dir: Path) -> dict[str, str]:
        files = {t: f"{t}.ubj" for t in self.targets}
        for target, booster in self.boosters.items():
            booster.save_model(out_dir / files[target])
        return files

    def load(self, out_dir: Path, files: dict[str, str]) -> None:
        for target in self.targets:
            self.boosters[target] = xgb.Booster(model_file=out_dir / files[target])


Family = EngineFamily | BoostedFamily


def make(name: str, seed: int) -> Family:
    if name == "engine":
        return EngineFamily(seed)
    if name == "battery":
        return BoostedFamily("battery", {"soh": (0.0, 1.0), "rul_days": (0.0, RUL_CAP_DAYS)}, INPUT_NAMES["battery"], seed)
    if name == "brakes":
        return BoostedFamily("brakes", {"wear_pct": (0.0, 100.0)}, INPUT_NAMES["brakes"], seed)
    raise ValueError(f"unknown model family {name!r}; known: {', '.join(FAMILIES)}")
