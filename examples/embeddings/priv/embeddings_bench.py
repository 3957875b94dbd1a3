"""The plain-Python baseline of the benchmark: the same model and the same
batches as the Erlang side, timed in one Python process with no Erlang and
no HTTP in between.

    python embeddings_bench.py --corpus corpus.txt --batches 1,32 \
        --seconds 8 --threads 1,8 [--torch-threads N]

For each batch size and thread count, `threads` threads each take the next
batch of the corpus (cycling through it), call embeddings_model.encode and
time it, until `seconds` have passed. One line per run is printed as an
Erlang term, which the Erlang benchmark reads with erl_parse:

    {python, Batch, Threads, Requests, Sentences, WallUs, P50Us, P99Us}.

Percentiles are nearest-rank over the per-call latencies, as on the Erlang
side. Lines starting with '%' are comments.
"""

import argparse
import math
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import embeddings_model  # noqa: E402


def percentile(sorted_values, p):
    """Nearest rank: the smallest value with at least p of them at or below."""
    if not sorted_values:
        return 0
    rank = max(1, math.ceil(p * len(sorted_values)))
    return sorted_values[rank - 1]


def batch_at(corpus, index, size):
    start = (index * size) % len(corpus)
    return [corpus[(start + i) % len(corpus)] for i in range(size)]


def run(corpus, batch, threads, seconds):
    counter = iter(range(1 << 62))
    counter_lock = threading.Lock()
    latencies = []
    lat_lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def client():
        mine = []
        while time.perf_counter() < deadline:
            with counter_lock:
                index = next(counter)
            sentences = batch_at(corpus, index, batch)
            t0 = time.perf_counter_ns()
            embeddings_model.encode(sentences)
            mine.append((time.perf_counter_ns() - t0) // 1000)
        with lat_lock:
            latencies.extend(mine)

    start = time.perf_counter_ns()
    workers = [threading.Thread(target=client) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    wall_us = (time.perf_counter_ns() - start) // 1000
    latencies.sort()
    return (len(latencies), len(latencies) * batch, wall_us,
            percentile(latencies, 0.50), percentile(latencies, 0.99))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpus", required=True)
    parser.add_argument("--batches", default="1,32")
    parser.add_argument("--threads", default="1")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--torch-threads", type=int, default=0)
    args = parser.parse_args()

    corpus = embeddings_model.read_corpus(args.corpus)
    embeddings_model.load(args.torch_threads)
    info = embeddings_model.info()
    print("%% plain Python %s, torch %s, %d torch threads"
          % (sys.version.split()[0], info["torch"], info["torch_threads"]), flush=True)
    for batch in [int(b) for b in args.batches.split(",")]:
        run(corpus, batch, 1, args.warmup)
        for threads in [int(t) for t in args.threads.split(",")]:
            requests, sentences, wall_us, p50, p99 = run(corpus, batch, threads, args.seconds)
            print("{python, %d, %d, %d, %d, %d, %d, %d}."
                  % (batch, threads, requests, sentences, wall_us, p50, p99), flush=True)


if __name__ == "__main__":
    main()
