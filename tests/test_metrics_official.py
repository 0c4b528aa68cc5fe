"""Parity with the official DCASE scorers, run unmodified on the same files (golden numbers below).

How the numbers were measured (outside the project, nothing of the official code is in it):
sharathadavanne/seld-dcase2023 at 24d14c9e (``2023``: ``ComputeSELDResults(params, ref_files_folder)``, its
defaults, polar format, so predictions are given as 7-column Cartesian rows), sony/audio-visual-seld-dcase2023
at d712445e (``sony``: its ``dcase2022_task3_seld_metrics``, predictions as 6-column polar rows) and
partha2409/DCASE2024_seld_baseline at 0b078872 (``2024``: frame-level with distance, its defaults;
``2024nodist``: ``evaluate_distance=False``; ``2024seg``: ``segment_based_metrics=True``), each fed the files
that :func:`scorer_cases.write_case` writes, with numpy 2.4.6 / scipy 1.17.1 and only compatibility shims
(``np.float = float``, ``np.NaN = np.nan``; stub modules for librosa, sklearn, matplotlib, IPython, cv2, which
the scorers import but do not use). Tuples are (ER, F, LE, LR, SELD), for ``2024`` (ER, F, DOAE, DE, RDE, LR,
SELD). Key: (case, scorer, reference columns, prediction layout, average); ``ref6`` references carry the seeded
distances of :func:`scorer_cases.with_distance_cm`. The project's scorer before this parity work differed by up
to 0.004 in ER and 0.06 in F on these cases (duplicated rows, exact ties, math vs numpy rounding).
"""
from __future__ import annotations

from pathlib import Path

import pytest

import scorer_cases as sc
from metrics import seld_2023, seld_2024
from metrics.dcase_csv import read_prediction_csv, read_reference_csv
from metrics.directions import (cartesian_angle_deg, cartesian_to_polar_deg, degrees_to_radians, polar_angle_deg,
                                polar_to_unit_xyz)
from metrics.scoring import find_csv_files, score_folders

GOLDEN: dict[tuple[str, str, str, str, str], tuple[float, ...]] = {
    ("mix023", "2023", "ref5", "cart7", "macro"):
        (0.8924302788844621, 0.1549613462956079, 141.0021540088298, 0.2275641025641026, 0.8233125325184515),
    ("mix023", "2023", "ref5", "cart7", "micro"):
        (0.8924302788844621, 0.6805555555555556, 10.676670897563723, 0.9880478087649402, 0.3207854382209412),
    ("mix023", "2023", "ref6", "cart7", "macro"):
        (0.8645418326693227, 0.15995200202096754, 140.9719289408337, 0.22970085470085472, 0.8145165897380332),
    ("mix023", "2023", "ref6", "cart7", "micro"):
        (0.8645418326693227, 0.6909090909090909, 10.587994134349195, 0.9960159362549801, 0.3091097487851313),
    ("mix023", "sony", "ref6", "polar6", "macro"):
        (0.8645418326693227, 0.15995200202096754, 140.97671076840496, 0.22970085470085472, 0.8145232311652155),
    ("mix023", "sony", "ref6", "polar6", "micro"):
        (0.8645418326693227, 0.6909090909090909, 10.605270133677585, 0.9960159362549801, 0.30913374322864295),
    ("mix023", "2024", "ref6", "polar", "macro"):
        (0.35222121486854036, 0.1692323244897026, 10.729867164660952, 0.5848324717132231, 0.23354285962374197,
         0.17963252178634137, 0.8122933199978489),
    ("mix023", "2024", "ref6", "polar", "micro"):
        (0.35222121486854036, 0.7604166666666666, 10.213054192547514, 0.6644651162790695, 0.23854568865246614,
         0.7796917497733454, 0.17828940398146562),
    ("mix023", "2024", "ref6", "cart7", "macro"):
        (0.35222121486854036, 0.1692323244897026, 10.729867164660826, 0.5848324717132231, 0.23354285962374197,
         0.17963252178634137, 0.8122933199978489),
    ("mix023", "2024", "ref6", "cart7", "micro"):
        (0.35222121486854036, 0.7604166666666666, 10.213054192547249, 0.6644651162790695, 0.23854568865246614,
         0.7796917497733454, 0.17828940398146512),
    ("mix023", "2024nodist", "ref5", "polar", "macro"):
        (0.3467815049864007, 0.1678512507984241, 10.943607757620535, 0.17491631013919307, 0.6549457644592793),
    ("mix023", "2024nodist", "ref5", "polar", "micro"):
        (0.3467815049864007, 0.7625625148844963, 10.42362829750552, 0.7683590208522212, 0.21844225383673402),
    ("mix023", "2024seg", "ref5", "polar", "macro"):
        (0.8924302788844621, 0.1549613462956079, 140.99822873073037, 0.2275641025641026, 0.8233070807433134),
    ("mix023", "2024seg", "ref5", "polar", "micro"):
        (0.8924302788844621, 0.6805555555555556, 10.670070293772524, 0.9880478087649402, 0.3207762707156756),
    ("real_multi", "2023", "ref5", "cart7", "macro"):
        (1.0356877323420075, 0.3386454649179802, 63.48386759352513, 0.6878843329527894, 0.5904615219421501),
    ("real_multi", "2023", "ref5", "cart7", "micro"):
        (1.0356877323420075, 0.6512086827824372, 11.816697559041959, 0.9955357142857143, 0.3636479137615779),
    ("real_multi", "2023", "ref6", "cart7", "macro"):
        (1.0825278810408923, 0.3329658052510149, 63.477111798460065, 0.6859987151514833, 0.6040534954352376),
    ("real_multi", "2023", "ref6", "cart7", "micro"):
        (1.0825278810408923, 0.6377588306942753, 11.815812879745932, 0.9895755770662695, 0.38020921954195624),
    ("real_multi", "sony", "ref6", "polar6", "macro"):
        (1.0825278810408923, 0.3329658052510149, 63.4764350528535, 0.6859987151514833, 0.604052555510784),
    ("real_multi", "sony", "ref6", "polar6", "micro"):
        (1.0825278810408923, 0.6377588306942753, 11.813764403247154, 0.9895755770662695, 0.38020637443570793),
    ("real_multi", "2024", "ref6", "polar", "macro"):
        (0.4122098022355976, 0.42138659702351483, 11.718436037659707, 0.8242225179546969, 0.25207145796580044,
         0.5194887960280608, 0.47119331185306407),
    ("real_multi", "2024", "ref6", "polar", "micro"):
        (0.4122098022355976, 0.7044013847053006, 11.737800613966995, 0.8442216927615149, 0.24652649401646176,
         0.7578675838349097, 0.20244503757402965),
    ("real_multi", "2024", "ref6", "cart7", "macro"):
        (0.4122098022355976, 0.42138659702351483, 11.718436037659709, 0.8242225179546969, 0.25207145796580044,
         0.5194887960280608, 0.47119331185306407),
    ("real_multi", "2024", "ref6", "cart7", "micro"):
        (0.4122098022355976, 0.7044013847053006, 11.737800613966995, 0.8442216927615149, 0.24652649401646176,
         0.7578675838349097, 0.20244503757402965),
    ("real_multi", "2024nodist", "ref5", "polar", "macro"):
        (0.40799656061908857, 0.4284291923138151, 11.499147952223982, 0.5223879344960097, 0.43709523303763614),
    ("real_multi", "2024nodist", "ref5", "polar", "micro"):
        (0.40799656061908857, 0.7084884085915429, 11.733571465208506, 0.7647463456577815, 0.24998707862745284),
    ("real_multi", "2024seg", "ref5", "polar", "macro"):
        (1.0356877323420075, 0.3386454649179802, 63.48243002940911, 0.6878843329527894, 0.5904595253253221),
    ("real_multi", "2024seg", "ref5", "polar", "micro"):
        (1.0356877323420075, 0.6512086827824372, 11.812868936887444, 0.9955357142857143, 0.36364259623080775),
    ("random", "2023", "ref5", "cart7", "macro"):
        (5.461538461538462, 0.0008499787505312367, 158.34737237406736, 0.1898328464784161, 2.0376408151524728),
    ("random", "2023", "ref5", "cart7", "micro"):
        (5.461538461538462, 0.0033755274261603376, 85.27138187520579, 0.8, 1.78297320835475),
    ("random", "2023", "ref6", "cart7", "macro"):
        (5.318681318681318, 0.00047337278106508875, 157.50967476656115, 0.1898329844758416, 2.0008571775318815),
    ("random", "2023", "ref6", "cart7", "micro"):
        (5.318681318681318, 0.001728608470181504, 85.78622136310341, 0.8404255319148937, 1.7382793242450378),
    ("random", "sony", "ref6", "polar6", "macro"):
        (5.318681318681318, 0.00047337278106508875, 157.50967476656115, 0.1898329844758416, 2.0008571775318815),
    ("random", "sony", "ref6", "polar6", "micro"):
        (5.318681318681318, 0.001728608470181504, 85.78622136310341, 0.8404255319148937, 1.7382793242450378),
    ("random", "2024", "ref6", "polar", "macro"):
        (1.7733423545331528, 0.0015512849189408852, 83.33259324712792, 2.2130902469983558, 2.062293577772257,
         0.06612389273883533, 1.039886938038188),
    ("random", "2024", "ref6", "polar", "micro"):
        (1.7733423545331528, 0.006309148264984227, 85.91194609314657, 1.9237760416666665, 1.3867982061115864,
         0.2598105548037889, 0.952592549084324),
    ("random", "2024", "ref6", "cart7", "macro"):
        (1.7733423545331528, 0.0015512849189408852, 83.33259324712792, 2.2130902469983558, 2.062293577772257,
         0.06612389273883533, 1.039886938038188),
    ("random", "2024", "ref6", "cart7", "micro"):
        (1.7733423545331528, 0.006309148264984227, 85.91194609314657, 1.9237760416666665, 1.3867982061115864,
         0.2598105548037889, 0.952592549084324),
    ("random", "2024nodist", "ref5", "polar", "macro"):
        (1.8058186738836266, 0.0015917836171549448, 87.3526892578746, 0.05460778142610509, 1.2093651695288736),
    ("random", "2024nodist", "ref5", "polar", "micro"):
        (1.8058186738836266, 0.006783493499152063, 85.73205881276765, 0.2449255751014885, 1.0075997052273682),
    ("random", "2024seg", "ref5", "polar", "macro"):
        (5.461538461538462, 0.0008499787505312367, 158.34737237433762, 0.1898328464784161, 2.037640815152848),
    ("random", "2024seg", "ref5", "polar", "micro"):
        (5.461538461538462, 0.0033755274261603376, 85.27138187660849, 0.8, 1.7829732083566983),
    ("tie", "2023", "ref6", "cart7", "macro"):
        (0.625, 0.1576923076923077, 112.71783857199976, 0.41025641025641024, 0.6708153740850424),
    ("tie", "2023", "ref6", "cart7", "micro"):
        (0.625, 0.3225806451612903, 37.28530517218963, 0.875, 0.408639984782163),
    ("tie", "sony", "ref6", "polar6", "macro"):
        (0.625, 0.1576923076923077, 112.71783857199976, 0.41025641025641024, 0.6708153740850424),
    ("tie", "sony", "ref6", "polar6", "micro"):
        (0.625, 0.3225806451612903, 37.28530517218963, 0.875, 0.408639984782163),
    ("tie", "2024", "ref6", "polar", "macro"):
        (0.6181818181818182, 0.158974358974359, 31.722399307957843, 0.09642857142857143, 0.039384920634920634,
         0.34679487179487184, 0.6724886196771311),
    ("tie", "2024", "ref6", "polar", "micro"):
        (0.6181818181818182, 0.1978021978021978, 49.88343200026437, 0.09428571428571429, 0.03761904761904762,
         0.6363636363636364, 0.37231567586536546),
    ("tie", "2024", "ref6", "cart7", "macro"):
        (0.6181818181818182, 0.158974358974359, 31.722399307957843, 0.09642857142857143, 0.039384920634920634,
         0.34679487179487184, 0.6724886196771311),
    ("tie", "2024", "ref6", "cart7", "micro"):
        (0.6181818181818182, 0.1978021978021978, 49.88343200026437, 0.09428571428571429, 0.03761904761904762,
         0.6363636363636364, 0.37231567586536546),
    ("tie", "2024nodist", "ref6", "polar", "macro"):
        (0.6181818181818182, 0.158974358974359, 31.722399307957843, 0.34679487179487184, 0.6659205356869193),
    ("tie", "2024nodist", "ref6", "polar", "micro"):
        (0.6181818181818182, 0.1978021978021978, 49.88343200026437, 0.6363636363636364, 0.5152865404488076),
    ("tie", "2024seg", "ref6", "polar", "macro"):
        (0.6875, 0.12692307692307692, 112.7179216791572, 0.41025641025641024, 0.6941327972039576),
    ("tie", "2024seg", "ref6", "polar", "micro"):
        (0.6875, 0.25806451612903225, 37.28546915099457, 0.875, 0.4403942447885677),
}

CASES = {"mix023": sc.mix023_case, "real_multi": sc.real_multi_case, "random": sc.random_case}
KEYS_2023 = ("ER", "F", "LE", "LR", "SELD")
KEYS_2024 = ("ER", "F", "DOAE", "DE", "RDE", "LR", "SELD")


def _radians(az: float, el: float) -> tuple[float, float]:
    return float(degrees_to_radians(az)), float(degrees_to_radians(el))


def project_scores(scorer: str, ref_dir: Path, pred_dir: Path, average: str) -> tuple[float, ...]:
    """The project's numbers for one official scorer configuration."""
    if scorer in ("2023", "sony"):
        r = score_folders(ref_dir, pred_dir, "dcase2023", average)
        return tuple(r[k] for k in KEYS_2023)
    if scorer == "2024":
        r = score_folders(ref_dir, pred_dir, "dcase2024", average)
        return tuple(r[k] for k in KEYS_2024)
    refs, preds = find_csv_files(ref_dir), find_csv_files(pred_dir)
    m = (seld_2024.SELDMetrics2024(average=average, eval_distance=False) if scorer == "2024nodist"
         else seld_2023.SELDMetrics2023(average=average, form="cartesian"))
    for name in sorted(refs):
        m.update(read_reference_csv(refs[name]), read_prediction_csv(preds[name]))
    r = m.compute()
    return tuple(r[k] for k in KEYS_2023)


@pytest.mark.parametrize("key", sorted(GOLDEN), ids=lambda k: "-".join(k))
def test_equals_official_scorer(key, tmp_path, request):
    case_name, scorer, ref_cols, pred_format, average = key
    if case_name == "tie":
        case = sc.tie_case()
    else:
        metadata = request.getfixturevalue("shared_data") / "starss22_metadata_dev"
        case = CASES[case_name](metadata, ref_cols == "ref6")
    ref_dir, pred_dir = sc.write_case(tmp_path, case, pred_format)
    got = project_scores(scorer, ref_dir, pred_dir, average)
    assert got == pytest.approx(GOLDEN[key], abs=1e-9, rel=1e-12)


def test_cases_hold_what_they_claim(shared_data):
    """The real reference keeps its 1,024 duplicated rows; the predictions hold duplicates and several instances
    of a class in one frame; the tie case has exactly equal costs."""
    ref, pred = sc.mix023_case(shared_data / "starss22_metadata_dev")["fold3_room21_mix023"]
    assert len(ref) == 2208 and len(ref) - len({tuple(r) for r in ref}) == 1024
    assert len(read_reference_csv(shared_data / "starss22_metadata_dev" / sc.REAL_FILES[0])) == 2208
    assert len(pred) - len({tuple(r) for r in pred}) > 50
    ref, pred = sc.random_case(shared_data / "starss22_metadata_dev")["fold4_room2_mix001"]
    per_frame_class: dict[tuple[str, str], int] = {}
    for r in pred:
        per_frame_class[(r[0], r[1])] = per_frame_class.get((r[0], r[1]), 0) + 1
    assert max(per_frame_class.values()) >= 3 and len(pred) - len({tuple(r) for r in pred}) > 20
    a = polar_angle_deg(*_radians(40, 0), *_radians(0, 0))
    b = polar_angle_deg(*_radians(-40, 0), *_radians(0, 0))
    assert a == b == pytest.approx(40)


def test_official_direction_arithmetic():
    """Known values of the official formulas: the DCASE2024 self-angle of 8.1e-4 deg, the poles, the seam."""
    v = polar_to_unit_xyz(30.0, 20.0)
    assert float(cartesian_angle_deg(v, v)) == pytest.approx(8.1028e-4, rel=1e-3)
    assert float(polar_angle_deg(*_radians(30, 20), *_radians(30, 20))) == 0.0
    assert float(polar_angle_deg(*_radians(180, 0), *_radians(-180, 0))) == pytest.approx(0, abs=1e-6)
    assert float(polar_angle_deg(*_radians(0, 90), *_radians(135, 90))) == pytest.approx(0, abs=1e-6)
    az, el = cartesian_to_polar_deg(0.0, 2.0, 2.0)
    assert (az, el) == (90.0, 45.0)
    assert cartesian_to_polar_deg(-1.0, -0.0, 0.0)[0] == -180.0
