"""Command line: ``python -m sparsenet`` (also the ``sparsenet`` console script).

    python -m sparsenet bench [--quick] [--threads N] [--family NAME ...] [--dlmc PATH]
                              [--json PATH] [--plot PATH]
    python -m sparsenet plot RESULTS.json PATH     (draw the figure of a --json file again)
    python -m sparsenet --version

Every argument and output path is checked before the benchmark starts, so a typo costs a second,
not the minutes of a run.
"""
import argparse
import json
import os
import sys

import sparsenet
from sparsenet import bench


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _check_output(parser, option, path):
    """Refuse an output path that cannot be written, before any timing."""
    directory = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        parser.error(f"{option} {path}: is a directory; give a file name")
    if not os.path.isdir(directory):
        parser.error(f"{option} {path}: directory {directory} does not exist")
    if not os.access(directory, os.W_OK):
        parser.error(f"{option} {path}: directory {directory} is not writable")


def _check_plot(parser, option, path):
    """--plot needs matplotlib and a file type it writes: fail before minutes of timing."""
    _check_output(parser, option, path)
    try:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib.figure import Figure
    except ImportError:
        parser.error(f"{option} needs matplotlib: pip install 'sparsenet[bench]' "
                     "(or pip install matplotlib)")
    suffix = os.path.splitext(path)[1].lstrip(".").lower()
    supported = Figure().canvas.get_supported_filetypes()
    if suffix not in supported:
        kind = f".{suffix} files" if suffix else "a file without an extension"
        parser.error(f"{option} {path}: matplotlib cannot write {kind}; use one of "
                     f"{', '.join(sorted(supported))} (e.g. .png)")


def build_parser() -> "tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]":
    """The parser and its subcommands' parsers (whose errors show the command's own usage)."""
    parser = argparse.ArgumentParser(prog="sparsenet", description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", action="version",
                        version=f"sparsenet {sparsenet.__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    b = commands.add_parser("bench", help="time sparsenet against NumPy and the installed peers")
    b.add_argument("--quick", action="store_true", help="small workloads (about a minute)")
    b.add_argument("--threads", type=_positive_int, default=None,
                   help="OpenMP threads for sparsenet and the BLAS peers (default: all cores)")
    b.add_argument("--family", action="append", choices=sorted(bench.FAMILIES),
                   help="only this kernel family (repeatable)")
    b.add_argument("--dlmc", metavar="PATH",
                   help=f"the DLMC archive for --family dlmc (default: ../shared/data/"
                        f"{bench.DLMC_FILE} from the working directory or the repository; "
                        f"the family is skipped when there is none)")
    b.add_argument("--json", metavar="PATH", help="write every figure and the machine to PATH")
    b.add_argument("--plot", metavar="PATH",
                   help="draw the speedups into PATH (matplotlib; .png, .svg, .pdf)")
    p = commands.add_parser("plot", help="draw the figure of a `bench --json` file")
    p.add_argument("results", metavar="RESULTS.json")
    p.add_argument("path", metavar="PATH", help="the image to write (.png, .svg, .pdf)")
    return parser, {"bench": b, "plot": p}


def main(argv: "list[str] | None" = None) -> int:
    """Run the command line `argv` (default: sys.argv[1:]); returns the exit status."""
    parser, commands = build_parser()
    args = parser.parse_args(argv)
    parser = commands[args.command]
    out = sys.stdout
    if args.command == "plot":
        _check_plot(parser, "PATH", args.path)
        try:
            with open(args.results) as f:
                data = json.load(f)
            results, info = data["results"], data.get("machine")
        except (OSError, ValueError, KeyError, TypeError) as error:
            parser.error(f"{args.results}: not a `sparsenet bench --json` file ({error})")
        bench.plot(results, args.path, info)
        print(f"wrote {args.path}", file=out)
        return 0
    # bench: every check before the run
    if args.json:
        _check_output(parser, "--json", args.json)
    if args.plot:
        _check_plot(parser, "--plot", args.plot)
    if args.dlmc is not None and not os.path.isfile(args.dlmc):
        parser.error(f"--dlmc {args.dlmc}: no such file")
    if args.family and "dlmc" in args.family and bench.find_dlmc(args.dlmc) is None:
        parser.error(f"--family dlmc: {bench.DLMC_FILE} not found in ../shared/data/ of the "
                     f"working directory or the repository; give --dlmc PATH")
    rows, info = bench.run(args.family, quick=args.quick, threads=args.threads, stream=out,
                           dlmc_path=args.dlmc)
    if args.json:
        bench.write_json(rows, info, args.json)
        print(f"wrote {args.json}", file=out)
    if args.plot:
        bench.plot(bench.records(rows, info), args.plot, info)
        print(f"wrote {args.plot}", file=out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
