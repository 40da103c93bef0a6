"""detreg.evaluation: COCO evaluator, confusion matrix, plots, the validation loop."""

from detreg.evaluation.coco_evaluator import COCOEvaluator
from detreg.evaluation.confusion import ConfusionMatrix
from detreg.evaluation.loop import run_evaluation
from detreg.evaluation.table import format_table

__all__ = ["COCOEvaluator", "ConfusionMatrix", "format_table", "run_evaluation"]
