"""ResumableCSVLogger: Lightning's CSVLogger, except that a resumed run appends to the metrics.csv of its version."""

from __future__ import annotations

import csv
from typing import Any

from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter


class _AppendingWriter(ExperimentWriter):
    """Keeps an existing metrics.csv (Lightning's writer deletes it) and, when the resumed run logs its first rows,
    drops the earlier rows from that step on: what a killed run logged after its last checkpoint is logged again."""

    def __init__(self, log_dir: str) -> None:
        super().__init__(log_dir)
        self._trim_from_first_step = self._fs.isfile(self.metrics_file_path)
        if self._trim_from_first_step:
            with self._fs.open(self.metrics_file_path, "r", newline="") as file:
                self.metrics_keys = list(csv.DictReader(file).fieldnames or [])

    def _check_log_dir_exists(self) -> None:
        pass  # an earlier part of this run wrote it: keep it

    def save(self) -> None:
        if self._trim_from_first_step and self.metrics:
            first = min(int(row["step"]) for row in self.metrics)
            with self._fs.open(self.metrics_file_path, "r", newline="") as file:
                rows = [row for row in csv.DictReader(file) if row.get("step") and int(float(row["step"])) < first]
            with self._fs.open(self.metrics_file_path, "w", newline="") as file:
                writer = csv.DictWriter(file, fieldnames=self.metrics_keys)
                writer.writeheader()
                writer.writerows(rows)
            self._trim_from_first_step = False
        super().save()


class ResumableCSVLogger(CSVLogger):
    """Lightning's CSVLogger (same arguments); given the version of an earlier part of the run (`fit --ckpt_path`
    sets it from the checkpoint), it appends to that version's metrics.csv instead of replacing it."""

    @property
    def experiment(self) -> Any:
        if self._experiment is None:
            self._experiment = _AppendingWriter(log_dir=self.log_dir)
        return self._experiment
