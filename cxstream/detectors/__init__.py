"""Online anomaly detectors for per-segment KPI series.

Each detector scores one closed event-time window of one series at a time
(``score_one`` before ``learn_one``), returns a score in ``[0, 1]`` on a common,
calibrated scale, and snapshots its state as a small JSON-serialisable dict.
:class:`DefaultDetector` is the one the engine uses by default.
"""

from cxstream.detectors.base import CountDetector, Detector, p_to_score
from cxstream.detectors.calibration import TailCalibrator
from cxstream.detectors.default import DefaultDetector, DefaultDetectorConfig
from cxstream.detectors.gate import IncidentGate, LearnMode
from cxstream.detectors.level_shift import LevelShiftDetector
from cxstream.detectors.novelty import RangeNovelty
from cxstream.detectors.rate import RateDetector
from cxstream.detectors.seasonal import SeasonalBaseline

__all__ = [
    "CountDetector",
    "DefaultDetector",
    "DefaultDetectorConfig",
    "Detector",
    "IncidentGate",
    "LearnMode",
    "LevelShiftDetector",
    "RangeNovelty",
    "RateDetector",
    "SeasonalBaseline",
    "TailCalibrator",
    "p_to_score",
]
