"""The ``sez`` command line."""

from __future__ import annotations

import argparse
import sys
import warnings


def _demo(args) -> int:
    from sez.model import CollateralWarning, Grid, Params, solve

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CollateralWarning)
        params = Params.paper()
    for w in caught:
        print(f"note: {w.message}")
    grid = Grid(n_cash=args.n_cash, n_capital=args.n_capital)
    sol = solve(params, grid, method=args.method, threads=args.threads)
    print(sol.summary())
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="sez", description="Special Economic Zones: data, estimation and model.")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="solve the paper's firm model on the default grid and summarise it")
    demo.add_argument("--method", default="howard", help="grid, monotone, howard or continuous")
    demo.add_argument("--n-cash", type=int, default=120)
    demo.add_argument("--n-capital", type=int, default=200)
    demo.add_argument("--threads", type=int, default=None)
    demo.set_defaults(func=_demo)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, RuntimeError) as err:
        print(f"sez: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
