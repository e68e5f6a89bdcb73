"""Benchmark of the study report (not a test).

Synthesises 10k, 100k and 1M pairwise judgments (3 conditions, 4 criteria, 2 panels, 3 raters
per comparison), times ``build_report`` for each, and compares our Krippendorff's alpha work
(value counts from the DataFrame + the ``krippendorff.alpha`` call + the 1,000-round item
bootstrap) with the bare ``krippendorff.alpha`` call on the same data.

    .venv/bin/python bench/analysis.py [--sizes 10000,100000,1000000] [--n-boot 1000]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import krippendorff  # noqa: E402

from annotations.analysis import agreement as ag  # noqa: E402
from annotations.analysis.report import build_report  # noqa: E402
from annotations.analysis.synthetic import synthetic_pairwise  # noqa: E402


def best_of(fn, repeat):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--n-boot", type=int, default=1000)
    args = parser.parse_args()
    print(f"{'judgments':>10} {'report s':>9} {'cpu s':>7} {'alpha ours s':>13} {'alpha+boot s':>13} {'bare kripp s':>13} "
          f"{'ours/bare':>9} {'(+boot)/bare':>12} {'bare matrix s':>13}")
    for n in (int(s) for s in args.sizes.split(",")):
        pj, scores, conditions, _ = synthetic_pairwise(n, seed=0)
        t, cpu = time.perf_counter(), time.process_time()
        build_report(study="bench", task="pairwise", pj=pj, scores=scores, conditions=conditions,
                     n_boot=args.n_boot, seed=0)
        report_s = time.perf_counter() - t
        report_cpu = time.process_time() - cpu

        # alpha on one group: the "all" panel, one criterion, judgments kept by the report
        keep = ~(pj["attention_check"] | pj["rater_flagged"]) & (pj["criterion"] == pj["criterion"].iloc[0])
        sub = pj[keep]
        codes = ag.pairwise_codes(sub)
        items = sub["item"].to_numpy()
        counts, domain, _ = ag.value_counts(items, codes)
        repeat = 3 if n <= 100_000 else 1

        def ours():
            c, d, _ = ag.value_counts(items, ag.pairwise_codes(sub))
            return ag.alpha_from_counts(c, d, "nominal")

        def ours_with_boot():
            ours()
            c, d, _ = ag.value_counts(items, codes)
            return ag.alpha_bootstrap(c, d, ("nominal",), n_boot=args.n_boot, seed=0)

        def bare():
            return krippendorff.alpha(value_counts=counts, level_of_measurement="nominal")

        t_ours, t_boot, t_bare = best_of(ours, repeat), best_of(ours_with_boot, repeat), best_of(bare, repeat)
        assert abs(ours() - bare()) < 1e-12
        # the usual way to call the library: a raters x items matrix with NaN for "not rated"
        raters, rater_codes = np.unique(sub["rater"].to_numpy(), return_inverse=True)
        item_codes = np.unique(items, return_inverse=True)[1]
        cells = len(raters) * (item_codes.max() + 1)
        t_matrix = float("nan")
        if cells <= 60_000_000:
            matrix = np.full((len(raters), item_codes.max() + 1), np.nan)
            matrix[rater_codes, item_codes] = codes
            t_matrix = best_of(lambda: krippendorff.alpha(reliability_data=matrix, level_of_measurement="nominal"), 1)
        print(f"{n:>10} {report_s:>9.2f} {report_cpu:>7.2f} {t_ours:>13.4f} {t_boot:>13.4f} {t_bare:>13.4f} "
              f"{t_ours / t_bare:>9.2f} {t_boot / t_bare:>12.2f} {t_matrix:>13.4f}", flush=True)
    print("report s = wall clock, cpu s = CPU time of this process (other load on the machine"
          " inflates the first). alpha ours = value counts from the DataFrame + krippendorff.alpha(value_counts=...);"
          " alpha+boot adds the 1,000-round item bootstrap; bare = krippendorff.alpha on prebuilt value"
          " counts; bare matrix = krippendorff.alpha on a raters x items matrix.")


if __name__ == "__main__":
    main()
