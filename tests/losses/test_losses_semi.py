"""Semi-supervised loss pieces on hand-made values: ramps, selection, thresholds, pseudo boxes."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch

from detreg.hooks.pseudo_box import ScoredAssigner, soft_gt_scores
from detreg.losses.semi import (
    arsl_loss,
    arsl_thresholds,
    box_term,
    dense_teacher_loss,
    dfl_certainty,
    pseudo_targets,
    qfl_v2,
    ramp_weight,
    top_ratio_mask,
    valid_boxes,
    weighted_giou_loss,
)


def test_ramps_at_known_iterations() -> None:
    # Paddle with semi_start st = 100: linear (it - st)/st until 2st; step 0.25 until 2st
    assert ramp_weight(99, 100, 100, "linear", 2.0) == 0.0
    assert ramp_weight(100, 100, 100, "linear", 2.0) == 0.0
    assert ramp_weight(150, 100, 100, "linear", 2.0) == pytest.approx(1.0)
    assert ramp_weight(200, 100, 100, "linear", 2.0) == 2.0
    assert ramp_weight(10**6, 100, 100, "linear", 2.0) == 2.0
    assert ramp_weight(150, 100, 100, "step") == 0.25 and ramp_weight(200, 100, 100, "step") == 1.0
    # exp: exp((it - (st + 2000)) / 1000) until st + 2000
    assert ramp_weight(100, 100, 2000, "exp") == pytest.approx(math.exp(-2))
    assert ramp_weight(1600, 100, 2000, "exp") == pytest.approx(math.exp(-0.5))
    assert ramp_weight(2100, 100, 2000, "exp") == 1.0
    assert ramp_weight(5, 0, 0, "exp", 3.0) == 3.0  # no ramp
    with pytest.raises(ValueError, match="ramp must be one of"):
        ramp_weight(0, 0, 0, "cosine")


def test_top_ratio_selects_the_highest_scoring_anchors_of_the_batch() -> None:
    scores = torch.tensor([[0.1, 0.9, 0.3, 0.2, 0.0], [0.8, 0.05, 0.7, 0.4, 0.6]])
    mask = top_ratio_mask(scores, 0.3)  # 3 of 10, across images
    assert mask.tolist() == [[False, True, False, False, False], [True, False, True, False, False]]
    assert top_ratio_mask(scores, 0.001).sum() == 1  # at least one
    assert top_ratio_mask(scores, 1.0).all()


def test_qfl_is_zero_when_the_student_matches_and_pushes_negatives_to_zero() -> None:
    t = torch.tensor([[[0.8, 0.1], [0.3, 0.2]]])
    pos = torch.tensor([[True, False]])
    student = torch.logit(torch.tensor([[[0.8, 0.1], [1e-6, 1e-6]]]))
    assert float(qfl_v2(student, t, pos)) == pytest.approx(0.0, abs=1e-6)
    loud = torch.logit(torch.tensor([[[0.8, 0.1], [0.9, 0.9]]])).requires_grad_()
    loss = qfl_v2(loud, t, pos)
    loss.backward()
    assert loss > 1.0 and (loud.grad[0, 1] > 0).all()  # the negative anchor is pushed down


def test_dense_teacher_loss_selects_top_anchors_and_regresses_their_boxes() -> None:
    t_probs = torch.zeros(1, 4, 2)
    t_probs[0, 2, 1] = 0.9  # the only confident anchor
    t_boxes = torch.tensor(
        [[[0, 0, 4, 4], [0, 0, 4, 4], [10, 10, 20, 20], [0, 0, 4, 4]]], dtype=torch.float32
    )
    s_boxes = t_boxes.clone().requires_grad_()
    s_logits = torch.full((1, 4, 2), -8.0, requires_grad=True)
    out = dense_teacher_loss(s_logits, s_boxes, t_probs, t_boxes, ratio=0.25)
    assert int(out["num_fg"]) == 1 and float(out["box"]) == pytest.approx(0.0, abs=1e-6)
    out["loss"].backward()
    assert s_logits.grad[0, 2, 1] < 0  # raise the selected anchor's class score towards 0.9
    moved = t_boxes.clone()
    moved[0, 2] += 5
    assert float(dense_teacher_loss(s_logits, moved, t_probs, t_boxes, ratio=0.25)["box"]) > 0.1


def test_arsl_threshold_is_mean_plus_std_of_candidates_capped() -> None:
    joint = torch.tensor([0.05, 0.2, 0.3, 0.4, 0.01])
    neg, pos = arsl_thresholds(joint, neg_thr=0.1, pos_cap=0.9)
    cand = torch.tensor([0.2, 0.3, 0.4])
    assert neg == 0.1 and pos == pytest.approx(float(cand.mean() + cand.std()))
    assert arsl_thresholds(joint, 0.1, 0.25)[1] == 0.25  # capped
    assert arsl_thresholds(torch.tensor([0.01, 0.02]), 0.1, 0.5)[1] == 0.5  # no candidate


def test_arsl_loss_positive_ambiguous_and_hard_negative_anchors() -> None:
    t_probs = torch.tensor([[[0.9, 0.0], [0.3, 0.0], [0.0, 0.0], [0.0, 0.0], [0.0, 0.0]]])
    quality = torch.tensor([[1.0, 0.5, 1.0, 1.0, 1.0]])  # joint: 0.9, 0.15, 0, 0, 0
    boxes = torch.tensor([[[0, 0, 8, 8]] * 5], dtype=torch.float32)
    # negatives 2, 3, 4: the student is confident on 3 (hardest), a little on 2, not on 4
    s = torch.logit(torch.tensor([[[0.9, 0.01], [0.3, 0.01], [0.05, 0.01], [0.9, 0.01], [0.01, 0.01]]]))
    s.requires_grad_()
    out = arsl_loss(s, boxes, t_probs, boxes, quality, neg_thr=0.1, pos_cap=0.6, hard_neg_ratio=0.0)
    # candidates 0.9 and 0.15: mean + std = 1.06, capped at 0.6: anchor 0 positive, 1 ambiguous
    assert int(out["num_pos"]) == 1 and float(out["pos_thr"]) == pytest.approx(0.6)
    out["loss"].backward()
    g = s.grad[0, :, 0]
    # as many hard negatives as positive + ambiguous anchors (2): 3 and 2 pushed down, 4 left out
    assert g[3] > 0 and g[2] > 0 and g[4] == 0
    assert g[1] > 0  # ambiguous: soft target 0.3 * joint / max score = 0.15, below the student's 0.3
    assert abs(float(g[0])) < 1e-3  # the positive already matches the teacher


def test_dfl_certainty_is_high_for_sharp_distributions() -> None:
    sharp = torch.full((1, 1, 4, 8), -20.0)
    sharp[..., 3] = 20.0
    flat = torch.zeros(1, 1, 4, 8)
    assert float(dfl_certainty(sharp.reshape(1, 1, 32), 7)) == pytest.approx(1.0)
    assert float(dfl_certainty(flat.reshape(1, 1, 32), 7)) == pytest.approx(0.25)
    assert float(dfl_certainty(torch.zeros(1, 1, 4), 0)) == 1.0


def test_pseudo_boxes_keep_scores_above_the_threshold_and_drop_empty_images() -> None:
    dets = [
        torch.tensor([[0, 0, 10, 20, 0.9, 2], [5, 5, 6, 6, 0.5, 1]]),
        torch.tensor([[0, 0, 10, 10, 0.69, 0]]),
        torch.tensor([[20, 10, 40, 30, 0.7, 1]]),
    ]
    targets, scores, keep = pseudo_targets(dets, (40, 80), score_thr=0.7)
    assert keep.tolist() == [True, False, True]
    torch.testing.assert_close(scores, torch.tensor([0.9, 0.7]))
    want = torch.tensor(
        [[0, 2, 5 / 80, 10 / 40, 10 / 80, 20 / 40], [1, 1, 30 / 80, 20 / 40, 20 / 80, 20 / 40]]
    )
    torch.testing.assert_close(targets, want)
    empty_targets, _, none = pseudo_targets([torch.zeros(0, 6)], (8, 8))
    assert empty_targets.shape == (0, 6) and not none.any()


def test_scored_assigner_scales_matched_target_scores_by_the_teacher_score() -> None:
    from detreg.assigners.common import AssignResult

    def base(*args):
        return AssignResult(
            labels=torch.tensor([[0, 1, 2]]),
            bboxes=torch.zeros(1, 3, 4),
            scores=torch.tensor([[[0.5, 0.0], [0.0, 1.0], [0.0, 0.0]]]),
            fg_mask=torch.tensor([[True, True, False]]),
            gt_idx=torch.tensor([[1, 0, 0]]),
        )

    res = ScoredAssigner(base, torch.tensor([[0.8, 0.6]]))()
    torch.testing.assert_close(res.scores, torch.tensor([[[0.3, 0.0], [0.0, 0.8], [0.0, 0.0]]]))

    loss = SimpleNamespace(assigner=base, warmup_assigner=None)
    with soft_gt_scores(loss, torch.ones(1, 2)):
        assert isinstance(loss.assigner, ScoredAssigner)
    assert loss.assigner is base and loss.warmup_assigner is None


def _degenerate_case() -> tuple[torch.Tensor, ...]:
    """Teacher boxes that are zero-size, inverted, NaN or infinite; inverted student boxes;
    a NaN teacher score: what an untrained head without DFL decodes."""
    t_boxes = torch.tensor(
        [
            [
                [10, 10, 10, 30],  # zero width
                [10, 10, 5, 5],  # inverted
                [float("nan"), 0, 8, 8],
                [0, 0, float("inf"), 8],
                [4, 4, 12, 12],  # the only valid one
                [0, 0, 8, 0],  # zero height
            ]
        ]
    )
    s_boxes = torch.tensor(
        [[[30, 30, 2, 2], [1e4, 1e4, -1e4, -1e4], [0, 0, 0, 0], [5, 5, 5, 5], [14, 14, 3, 3], [0, 0, 1, 1]]],
        requires_grad=True,
    )
    nan = float("nan")
    t_probs = torch.tensor([[[0.9, 0.1], [0.8, 0.0], [nan, 0.2], [0.7, 0.0], [0.6, 0.0], [0.95, 0.0]]])
    s_logits = torch.tensor([[[30.0, -30.0]] * 6], requires_grad=True)
    return s_logits, s_boxes, t_probs, t_boxes


@pytest.mark.parametrize("method", ["dense", "arsl"])
def test_degenerate_boxes_and_scores_give_finite_losses_and_gradients(method: str) -> None:
    s_logits, s_boxes, t_probs, t_boxes = _degenerate_case()
    if method == "dense":
        out = dense_teacher_loss(s_logits, s_boxes, t_probs, t_boxes, ratio=1.0)
    else:
        quality = torch.tensor([[1.0, float("nan"), 1.0, 1.0, 1.0, 1.0]])
        out = arsl_loss(s_logits, s_boxes, t_probs, t_boxes, quality, neg_thr=0.1, pos_cap=0.5)
    out["loss"].backward()
    assert torch.isfinite(out["loss"]) and 0.0 <= float(out["box"]) <= 2.0
    assert torch.isfinite(s_logits.grad).all() and torch.isfinite(s_boxes.grad).all()
    # only anchor 4 has a valid teacher box: no other box gets a box gradient
    assert s_boxes.grad[0, 4].abs().sum() > 0
    assert s_boxes.grad[0, [0, 1, 2, 3, 5]].abs().sum() == 0


def test_giou_terms_stay_in_zero_two_for_inverted_student_boxes() -> None:
    g = torch.Generator().manual_seed(0)
    pred = (torch.rand(200, 4, generator=g) * 100).requires_grad_()  # about half inverted
    target = torch.tensor([[10.0, 10.0, 50.0, 40.0]]).expand(200, 4)
    loss = weighted_giou_loss(pred, target, torch.ones(200))
    per = torch.stack([weighted_giou_loss(p[None], target[:1], torch.ones(1)) for p in pred])
    assert ((per >= 0) & (per <= 2)).all()
    assert float(loss.detach()) == pytest.approx(float(per.detach().sum()), rel=1e-5)
    loss.backward()
    assert torch.isfinite(pred.grad).all()


def test_all_low_teacher_scores_teach_little_and_stay_finite() -> None:
    s_logits = torch.zeros(2, 50, 3, requires_grad=True)
    s_boxes = torch.tensor([0.0, 0.0, 8.0, 8.0]).repeat(2, 50, 1).requires_grad_()
    t_boxes = torch.tensor([4.0, 4.0, 20.0, 20.0]).repeat(2, 50, 1)
    t_probs = torch.full((2, 50, 3), 1e-9)
    dense = dense_teacher_loss(s_logits, s_boxes, t_probs, t_boxes, ratio=0.1)
    # the box term is weighted by the teacher scores and divided by at least 1: about 0
    assert float(dense["box"]) < 1e-6 and torch.isfinite(dense["loss"])
    arsl = arsl_loss(s_logits, s_boxes, t_probs, t_boxes, torch.ones(2, 50))
    assert int(arsl["num_pos"]) == 0 and float(arsl["box"]) == 0.0 and torch.isfinite(arsl["loss"])
    (dense["loss"] + arsl["loss"]).backward()
    assert torch.isfinite(s_logits.grad).all() and torch.isfinite(s_boxes.grad).all()


def test_empty_selection_gives_a_zero_box_term_with_a_graph() -> None:
    s_boxes = torch.rand(1, 4, 4, requires_grad=True)
    t_boxes = torch.zeros(1, 4, 4)  # every teacher box is empty
    one, weight = torch.tensor(1.0), torch.ones(1, 4)
    out = box_term(s_boxes, t_boxes, torch.ones(1, 4, dtype=torch.bool), weight, one)
    assert float(out.detach()) == 0.0 and out.requires_grad
    none = box_term(s_boxes, t_boxes, torch.zeros(1, 4, dtype=torch.bool), weight, one)
    none.backward()
    assert float(none) == 0.0 and (s_boxes.grad == 0).all()
    assert valid_boxes(torch.tensor([[0, 0, 1, 1], [0, 0, 0, 1], [0, 0, float("nan"), 1.0]])).tolist() == [
        True,
        False,
        False,
    ]


def test_pseudo_boxes_drop_non_finite_and_empty_boxes() -> None:
    dets = [
        torch.tensor(
            [
                [0, 0, 10, 10, 0.9, 0],
                [0, 0, float("nan"), 10, 0.9, 0],
                [5, 5, 5, 9, 0.9, 0],
                [0, 0, 10, 10, float("nan"), 0],
                [0, 0, float("inf"), 10, 0.9, 0],
            ]
        )
    ]
    targets, scores, keep = pseudo_targets(dets, (20, 20), score_thr=0.5)
    assert targets.shape == (1, 6) and keep.tolist() == [True] and torch.isfinite(targets).all()


def test_class_terms_are_per_selected_anchor_whatever_the_teacher_confidence_and_batch() -> None:
    """An unsure teacher (scores 0.002) must not amplify the background term of every anchor:
    the class terms are divided by the number of selected anchors, which grows with them."""

    def cls_terms(anchors: int, teacher_score: float) -> tuple[float, float]:
        s = torch.full((2, anchors, 3), float(torch.logit(torch.tensor(0.1))))  # student background 0.1
        t = torch.full((2, anchors, 3), teacher_score)
        t[:, ::10, 0] = teacher_score * 2  # a tenth of the anchors stand out a little
        boxes = torch.tensor([0.0, 0.0, 8.0, 8.0]).repeat(2, anchors, 1)
        dense = dense_teacher_loss(s, boxes, t, boxes, ratio=0.1)["cls"]
        arsl = arsl_loss(s, boxes, t, boxes, torch.ones(2, anchors), neg_thr=0.01, pos_cap=0.5)["cls"]
        return float(dense), float(arsl)

    small, big = cls_terms(500, 0.002), cls_terms(2000, 0.002)
    confident = cls_terms(500, 0.45)
    for a, b, c in zip(small, big, confident):
        assert a < 1.0 and b == pytest.approx(a, rel=0.05)  # no growth with the anchors
        assert c > a  # a confident teacher that disagrees with the student teaches more
