"""Files and names from outside: an image folder that changes under the reader, and plug-ins that
register classifiers."""

from __future__ import annotations

import os
import threading
import warnings

import numpy as np
import pytest

from classifiers.data.folder import ImageFolderSource, UnreadableImageError, load_image
from tests.image_folder import write_folder


def _in_thread(function, pipe, timeout: float = 20.0):
    """``function()`` in a thread; fails (after unblocking a reader of ``pipe``) if it hangs."""
    outcome: dict = {}

    def run():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                outcome["value"] = function()
            except Exception as error:  # reported to the test below
                outcome["error"] = error
        outcome["warnings"] = [str(w.message) for w in caught]

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        os.close(os.open(pipe, os.O_WRONLY | os.O_NONBLOCK))  # a writer: the blocked open returns
        thread.join(timeout)
        pytest.fail(f"reading {pipe} blocked for {timeout:.0f} s")
    return outcome


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are a POSIX feature")
def test_an_image_swapped_for_a_named_pipe_is_skipped_not_waited_on(tmp_path):
    root = write_folder(tmp_path / "images")
    source = ImageFolderSource(root, image_size=32, workers=0)
    index = next(i for i, (p, _) in enumerate(source.items) if p.name == "05.jpg")
    pipe = source.items[index][0]
    pipe.unlink()  # after the scan: the source still lists it
    os.mkfifo(pipe)
    direct = _in_thread(lambda: load_image(pipe, 32, 36), pipe)
    assert isinstance(direct.get("error"), UnreadableImageError)
    assert "not a regular file (a named pipe)" in str(direct["error"])
    # what reset does: the next readable image takes its place, with a warning naming the file
    rngs = [np.random.default_rng(0)]
    batch = _in_thread(lambda: source.sample_batch([index], rngs), pipe)
    assert "error" not in batch, batch.get("error")
    assert batch["value"].indices.tolist() == [index + 1] and source.skipped == {index}
    assert any("05.jpg" in w and "named pipe" in w for w in batch["warnings"])
    source.close()


def test_a_plugin_cannot_replace_shipped_weights_by_registering_a_tagged_name():
    from classifiers import create_classifier, register_classifier
    from classifiers.registry import _REGISTRY, get_entry
    from classifiers.testing import FakeClassifier

    shipped = get_entry("gf-mnist-cluttered100.mnist50k")
    with pytest.raises(ValueError, match=r"'gf-mnist-cluttered100\.mnist50k' names the weights "
                       r"tagged 'mnist50k' of classifier 'gf-mnist-cluttered100'; .*overwrite=True"):  # fmt: skip
        register_classifier("gf-mnist-cluttered100.mnist50k")(FakeClassifier)
    assert get_entry("gf-mnist-cluttered100.mnist50k") is shipped
    assert "gf-mnist-cluttered100.mnist50k" not in _REGISTRY
    assert create_classifier("gf-mnist-cluttered100.mnist50k", device="cpu").__class__.__name__ != (
        "FakeClassifier"
    )


@pytest.mark.parametrize(
    "tag", ["mnіst50k", "run\u2011one", "r\u0430n"], ids=["cyrillic-i", "nb-hyphen", "cyrillic-a"]
)
def test_weights_tags_and_names_are_ascii(tag):
    from classifiers import register_classifier, register_weights
    from classifiers.testing import FakeClassifier

    with pytest.raises(ValueError, match=r"weights tags are ASCII letters, digits, '-' and '_', "
                       r"got .*\(non-ASCII: .* U\+[0-9A-F]{4}\)"):  # fmt: skip
        register_weights(
            "gf-mnist-cluttered100", tag, weights="x.pt", train_command="", description=""
        )
    with pytest.raises(ValueError, match=r"classifier names are ASCII letters, digits, '\.', '-'"):
        register_classifier(f"gf-{tag}")(FakeClassifier)
