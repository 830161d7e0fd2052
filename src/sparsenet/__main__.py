"""Command line: ``python -m sparsenet bench`` (also the ``sparsenet`` console script).

    python -m sparsenet bench [--quick] [--threads N] [--family NAME ...] [--json PATH] [--plot PATH]
"""
import argparse
import sys

from sparsenet import bench


def main(argv=None):
    parser = argparse.ArgumentParser(prog="sparsenet")
    commands = parser.add_subparsers(dest="command", required=True)
    b = commands.add_parser("bench", help="time sparsenet against NumPy and the installed peers")
    b.add_argument("--quick", action="store_true", help="small workloads (under a minute)")
    b.add_argument("--threads", type=int, default=None, help="OpenMP threads for sparsenet")
    b.add_argument("--family", action="append", choices=sorted(bench.FAMILIES),
                   help="only this kernel family (repeatable)")
    b.add_argument("--json", metavar="PATH", help="write every figure and the machine to PATH")
    b.add_argument("--plot", metavar="PATH", help="draw the speedups as a bar chart (matplotlib)")
    args = parser.parse_args(argv)
    if args.command == "bench":
        if args.plot:
            try:
                import matplotlib  # noqa: F401  (fail before minutes of timing, not after)
            except ImportError:
                parser.error("--plot needs matplotlib: pip install 'sparsenet[bench]'")
        rows, info = bench.run(args.family, quick=args.quick, threads=args.threads)
        if args.json:
            bench.write_json(rows, info, args.json)
        if args.plot:
            bench.plot(rows, args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
