"""Command line: ``python -m sparsenet bench [--quick] [--threads N] [--family NAME ...]``."""
import argparse
import sys

from sparsenet import bench


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m sparsenet")
    commands = parser.add_subparsers(dest="command", required=True)
    b = commands.add_parser("bench", help="time sparsenet against NumPy and the installed peers")
    b.add_argument("--quick", action="store_true", help="small workloads (seconds, not minutes)")
    b.add_argument("--threads", type=int, default=None, help="OpenMP threads for sparsenet")
    b.add_argument("--family", action="append", choices=sorted(bench.FAMILIES),
                   help="only this kernel family (repeatable)")
    args = parser.parse_args(argv)
    if args.command == "bench":
        bench.run(args.family, quick=args.quick, threads=args.threads)
    return 0


if __name__ == "__main__":
    sys.exit(main())
