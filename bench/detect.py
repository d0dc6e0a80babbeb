"""Detection speed on realistic Danish mail text, in one run:

  floor:    a plain `re` scan for CPR-shaped numbers;
  presidio: stock Presidio (AnalyzerEngine on the blank Danish spaCy pipeline) with only
            the CPR recognizer — spaCy tokenisation and Presidio's context enhancement;
  postvagt: the full Postvagt detector (all recognizers, lexicons, window context).

Texts of about 2 KB, 20 KB and 200 KB are built from municipal sentences, with fictional
CPR numbers and personal details sprinkled in (about one per 300 bytes, as in a list).

Then the analyzer's CPU time per text (time.process_time, best of --rounds), on the same
texts and a dense list (a school's CSV of 300 people with CPR numbers, bench/relay.py), for
this checkout and, side by side, for each --against checkout of another commit (made with
``git worktree add /tmp/base <commit>``): each runs in a process of its own, rounds taken
in turn, so load on the machine hits all alike.

    .venv/bin/python bench/detect.py [--seconds 3] [--rounds 15] [--against DIR]... [--cpu-only]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from presidio_analyzer import AnalyzerEngine, RecognizerRegistry  # noqa: E402

from gateway.detect.engine import build_detector, build_engine  # noqa: E402
from gateway.detect.recognizers.dk_cpr import DkCprRecognizer  # noqa: E402
from tests import fictional  # noqa: E402
from tests.mailcorpus import MUNICIPAL_SENTENCES  # noqa: E402

FLOOR = re.compile(r"(?<![\d-])\d{6}-?\d{4}(?![\d-])")
PERSONAL = [
    "Mit CPR-nr. er {cpr}.",
    "Barnets personnummer: {cpr}",
    "Jeg er sygemeldt og har fået diagnosen depression.",
    "Ring på tlf. {phone}.",
    "Reg.nr. 1234 kontonr. 0012345678.",
]


def text_of(size: int, rng: random.Random) -> str:
    parts, length = [], 0
    while length < size:
        if rng.random() < 0.35:
            line = rng.choice(PERSONAL).format(cpr=fictional.cpr(rng), phone=fictional.phone(rng))
        else:
            line = rng.choice(MUNICIPAL_SENTENCES)
        parts.append(line)
        length += len(line) + 1
    return "\n".join(parts)[:size]


def rate(run, text: str, seconds: float) -> tuple[float, int]:
    """(calls per second, findings in one call), over about ``seconds``."""
    count = len(run(text))
    calls, started = 0, time.perf_counter()
    while True:
        run(text)
        calls += 1
        elapsed = time.perf_counter() - started
        if elapsed >= seconds:
            return calls / elapsed, count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument(
        "--against", action="append", default=[], help="a checkout of another commit"
    )
    parser.add_argument("--cpu-only", action="store_true", help="only the CPU time per text")
    args = parser.parse_args()
    if args.cpu_only:
        return cpu_per_text(args.against, args.rounds)
    rng = random.Random(11)

    detector = build_detector()
    engine, _ = build_engine()
    registry = RecognizerRegistry(supported_languages=["da"])
    registry.add_recognizer(DkCprRecognizer())
    stock = AnalyzerEngine(
        registry=registry, nlp_engine=engine.nlp_engine, supported_languages=["da"]
    )
    engines = {
        "floor (re)": lambda t: FLOOR.findall(t),
        "presidio CPR only": lambda t: stock.analyze(t, language="da", score_threshold=0.5),
        "postvagt full": lambda t: detector.analyze(t).findings(),
    }
    print(
        f"{'text':>7} | {'engine':18} | {'MB/s':>7} | {'msgs/s':>8} | {'ms/msg':>8} | "
        f"{'found':>5} | vs floor | postvagt/presidio"
    )
    for size in (2_000, 20_000, 200_000):
        text = text_of(size, rng)
        results = {}
        for name, run in engines.items():
            per_second, found = rate(run, text, args.seconds)
            results[name] = per_second
            mb = per_second * len(text.encode()) / 1e6
            ratio = per_second / results["floor (re)"]
            print(
                f"{size // 1000:>5}KB | {name:18} | {mb:7.2f} | {per_second:8.1f} | "
                f"{1000 / per_second:8.2f} | {found:5} | {ratio:8.3f} |",
                flush=True,
            )
        print(
            f"{'':7} | {'':18} | {'':7} | {'':8} | {'':8} | {'':5} | {'':8} | "
            f"{results['postvagt full'] / results['presidio CPR only']:.2f}x"
        )
    print("one process, one core; findings = results above the 0.5 threshold (floor: matches)")
    normalisation_cost(detector, rng, args.seconds)
    return cpu_per_text(args.against, args.rounds)


def cpu_texts() -> dict[str, str]:
    """The texts of the CPU table: the bench's three sizes and a dense list."""
    from bench.relay import people_csv

    rng = random.Random(11)
    texts = {f"{size // 1000} KB": text_of(size, rng) for size in (2_000, 20_000, 200_000)}
    texts["list 300 CPR"] = people_csv(300)
    return texts


# Runs in a process of its own with another checkout first on sys.path: reads the texts,
# then measures each text once more for every line it is sent.
_WORKER = """
import json, sys, time
sys.path.insert(0, sys.argv[1])
from gateway.detect.engine import build_detector
texts = json.loads(sys.stdin.readline())
detector = build_detector()
calls = []
for text in texts:
    detector.analyze(text)  # the first call builds lazily made tables: not the cost of a text
    started = time.process_time()
    detector.analyze(text)
    calls.append(max(1, int(0.05 / max(time.process_time() - started, 1e-4))))
print(json.dumps([len(detector.analyze(t).findings()) for t in texts]), flush=True)
for _ in sys.stdin:
    seconds = []
    for text, n in zip(texts, calls):
        started = time.process_time()
        for _ in range(n):
            detector.analyze(text)
        seconds.append((time.process_time() - started) / n)
    print(json.dumps(seconds), flush=True)
"""


def cpu_per_text(against: list[str], rounds: int) -> int:
    """The analyzer's CPU time per text, best of ``rounds``, for each checkout."""
    texts = cpu_texts()
    trees = {Path(tree).name or tree: str(Path(tree).resolve()) for tree in against}
    trees["this checkout"] = str(ROOT)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    workers = {
        name: subprocess.Popen(
            [sys.executable, "-c", _WORKER, tree],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=tree,
            env=env,
        )
        for name, tree in trees.items()
    }
    best: dict[str, list[float]] = {}
    found: dict[str, list[int]] = {}
    try:
        for name, worker in workers.items():
            assert worker.stdin is not None and worker.stdout is not None
            worker.stdin.write(json.dumps(list(texts.values())) + "\n")
            worker.stdin.flush()
            found[name] = json.loads(worker.stdout.readline())
            best[name] = [float("inf")] * len(texts)
        for _ in range(rounds):
            for name, worker in workers.items():
                assert worker.stdin is not None and worker.stdout is not None
                worker.stdin.write("round\n")
                worker.stdin.flush()
                seconds = json.loads(worker.stdout.readline())
                best[name] = [min(a, b) for a, b in zip(best[name], seconds, strict=True)]
    finally:
        for worker in workers.values():
            if worker.stdin is not None:
                worker.stdin.close()
            worker.wait()
    names = list(trees)
    print(f"\nanalyzer CPU per text, best of {rounds} rounds (ms; findings in brackets)")
    header = "".join(f" | {name[:16]:>16}" for name in names)
    ratios = "".join(f" | {'speed vs ' + name[:7]:>16}" for name in names[:-1])
    print(f"{'text':>13}{header}{ratios}")
    for i, label in enumerate(texts):
        cells = "".join(f" | {best[n][i] * 1000:9.2f} ({found[n][i]:3})" for n in names)
        mine = best[names[-1]][i]
        speeds = "".join(f" | {best[n][i] / mine:15.2f}x" for n in names[:-1])
        print(f"{label:>13}{cells}{speeds}", flush=True)
    print("speed vs X: X's CPU time / this checkout's (above 1: this checkout is faster)")
    return 0


def typeset(text: str, rng: random.Random) -> str:
    """The same text as Outlook writes it: no-break spaces, en dashes, a soft hyphen."""
    out = []
    for ch in text:
        if ch == " " and rng.random() < 0.15:
            ch = "\u00a0"
        elif ch == "-" and rng.random() < 0.5:
            ch = "\u2013"
        out.append(ch)
    return "".join(out).replace("sygemeldt", "syge\u00admeldt")


def normalisation_cost(detector, rng: random.Random, seconds: float) -> None:
    """The analyzer with and without the normalisation step (issue 15: at most 10 %), on
    plain text (the fast path) and on typographic text (every character looked at). Each
    figure is the best of several rounds, so other load on the machine cancels out."""
    import timeit

    import gateway.detect.analyzer as analyzer
    from gateway.detect.normalise import Normalised, normalise

    def best(run, text: str) -> float:
        number = max(1, int(seconds * 20 / max(len(text) / 2000, 1)))
        return min(timeit.repeat(lambda: run(text), number=number, repeat=5)) / number

    print(f"\n{'text':>7} | {'kind':11} | {'without':>9} | {'with':>9} | {'with/without':>12}")
    for size in (2_000, 20_000, 200_000):
        plain = text_of(size, rng)
        for kind, text in (("plain", plain), ("typographic", typeset(plain, rng))):
            analyzer.normalise = lambda t: Normalised(t)  # today's analyzer: no such step
            before = best(detector.analyze, normalise(text).text)
            analyzer.normalise = normalise
            after = best(detector.analyze, text)
            print(
                f"{size // 1000:>5}KB | {kind:11} | {1 / before:7.1f}/s | {1 / after:7.1f}/s | "
                f"{before / after:12.3f}",
                flush=True,
            )
    print("without: the text normalised beforehand and not timed; with: normalised inside")


if __name__ == "__main__":
    sys.exit(main())
