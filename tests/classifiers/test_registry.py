import pickle

import pytest
import torch

from classifiers import (
    CheckpointError,
    GFConfig,
    GFModel,
    classifier_checkpoint,
    create_classifier,
    get_entry,
    list_classifiers,
    load_file,
    register_classifier,
    register_weights,
    save_atomic,
)

MNIST = [
    "gf-mnist-cluttered100",
    "gf-mnist-cluttered60",
    "gf-mnist-translated60",
    "gf-mnist-large112",
    "gf-mnist-max2x84",
    "gf-mnist-search2x128",
]
FULLRES = [
    "fullres-mnist-cluttered100",
    "fullres-mnist-cluttered60",
    "fullres-mnist-translated60",
    "fullres-mnist-max2x84",
    "fullres-mnist-large112",
]
# weights under a tag: full MNIST (50,000 training digits), 8 or 24 epochs; a 2x-wide encoder
FULL_MNIST = [
    "gf-mnist-cluttered100.mnist50k",
    "gf-mnist-cluttered60.mnist50k",
    "gf-mnist-cluttered60.mnist50k-e24",
    "gf-mnist-cluttered60-wide.mnist50k",
    "gf-mnist-cluttered60-wide.mnist50k-e24",
    "fullres-mnist-cluttered100.mnist50k",
    "fullres-mnist-cluttered60.mnist50k",
]


def test_list_and_pattern():
    assert set(MNIST) <= set(list_classifiers())
    assert list_classifiers("gf-mnist-c*") == [
        "gf-mnist-cluttered100",
        "gf-mnist-cluttered60",
        "gf-mnist-cluttered60-wide",
    ]
    assert list_classifiers(pretrained=True) == sorted(MNIST + FULLRES + FULL_MNIST)


@pytest.mark.parametrize("name", MNIST + FULLRES + FULL_MNIST)
def test_shipped_weights_load_and_record_how_they_were_made(name):
    entry = get_entry(name)
    data = load_file(entry.weights_path)
    assert data["name"] == name
    assert data["meta"]["stage"] == 1 and data["meta"]["data"] == entry.data
    assert data["meta"]["epochs_done"] == data["meta"]["train_config"]["epochs"]
    assert data["meta"]["train_config"]["focus_steps"] == (0 if "fullres" in name else 4)
    if name in FULL_MNIST:  # the tag says what they saw: a full MNIST folder's 50,000 digits
        assert data["meta"]["fingerprint"]["train_data"]["digits"] == 50_000
    else:  # the embedded digits
        assert data["meta"]["train_config"].get("mnist_root") is None
    assert f"--classifier {name}" in entry.train_command
    model = create_classifier(name, pretrained=True, device="cpu")
    assert not model.training
    random = create_classifier(name, device="cpu")
    key = "head.fc.weight"
    assert not torch.equal(model.state_dict()[key], random.state_dict()[key])


def test_checkpoint_round_trip(tmp_path):
    torch.manual_seed(1)
    model = create_classifier("gf-mnist-cluttered60", device="cpu")
    path = save_atomic(classifier_checkpoint("gf-mnist-cluttered60", model), tmp_path / "w.pt")
    loaded = create_classifier("gf-mnist-cluttered60", checkpoint=path, device="cpu")
    images = torch.rand(2, 1, 60, 60)
    with torch.inference_mode():
        torch.testing.assert_close(model.glance(images).logits, loaded.glance(images).logits)
    assert not list(tmp_path.glob(".*tmp"))  # the atomic write left no temporary file


def test_unknown_name_suggests_close_names():
    with pytest.raises(KeyError, match="Did you mean 'gf-mnist-cluttered60'"):
        create_classifier("gf-mnist-cluttered6")


def test_checkpoint_for_another_architecture_is_refused(tmp_path):
    model = create_classifier("gf-mnist-cluttered100", device="cpu")
    path = save_atomic(classifier_checkpoint("gf-mnist-cluttered100", model), tmp_path / "w.pt")
    with pytest.raises(CheckpointError, match="patch_size: file 32 vs model 28"):
        create_classifier("gf-mnist-cluttered60", checkpoint=path)


def test_mismatched_keys_are_named(tmp_path):
    model = create_classifier("gf-mnist-cluttered60", device="cpu")
    data = classifier_checkpoint("gf-mnist-cluttered60", model)
    data["config"] = None
    del data["state_dict"]["head.fc.bias"]
    data["state_dict"]["extra.weight"] = torch.zeros(1)
    save_atomic(data, tmp_path / "w.pt")
    with pytest.raises(
        CheckpointError,
        match=r"missing keys \['head.fc.bias'\].*unexpected keys \['extra.weight'\]",
    ):
        create_classifier("gf-mnist-cluttered60", checkpoint=tmp_path / "w.pt")


def test_not_a_checkpoint_and_truncated_files(tmp_path):
    (tmp_path / "text.pt").write_text("hello")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_file(tmp_path / "text.pt")
    model = create_classifier("gf-mnist-cluttered60", device="cpu")
    good = save_atomic(classifier_checkpoint("gf-mnist-cluttered60", model), tmp_path / "good.pt")
    (tmp_path / "cut.pt").write_bytes(good.read_bytes()[:5000])
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_file(tmp_path / "cut.pt")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not a glance-focus classifier checkpoint"):
        create_classifier("gf-mnist-cluttered60", checkpoint=tmp_path / "other.pt")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_file(tmp_path / "missing.pt")


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_pickle_that_runs_code_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    with open(tmp_path / "evil.pt", "wb") as handle:
        pickle.dump({"state_dict": _Payload(marker)}, handle)
    torch.save({"x": _Payload(marker)}, tmp_path / "evil_zip.pt")
    marker.unlink(missing_ok=True)
    for name in ("evil.pt", "evil_zip.pt"):
        with pytest.raises(CheckpointError, match=r"refused|not a readable"):
            load_file(tmp_path / name)
    assert not marker.exists()


def test_user_model_registers_in_a_few_lines():
    @register_classifier("test-user-gf", description="a user's model")
    def user_gf(**overrides):
        return GFModel(GFConfig(image_size=(60, 60), patch_size=20, glance_size=12, **overrides))

    model = create_classifier("test-user-gf", hidden_size=64, device="cpu")
    assert model.patch_size == 20 and model.state_dim == 64
    assert "test-user-gf" in list_classifiers()
    with pytest.raises(ValueError, match="no shipped weights"):
        create_classifier("test-user-gf", pretrained=True)


def test_weights_under_a_tag_load_by_tagged_name(tmp_path):
    @register_classifier("test-tagged-gf", description="a user's model", overwrite=True)
    def tagged_gf(**overrides):
        return GFModel(GFConfig(image_size=(60, 60), patch_size=20, glance_size=12, **overrides))

    torch.manual_seed(3)
    trained = create_classifier("test-tagged-gf", device="cpu")
    path = save_atomic(classifier_checkpoint("test-tagged-gf.run1", trained), tmp_path / "w.pt")
    register_weights(
        "test-tagged-gf", "run1", weights=str(path), train_command="cmd", description="my run"
    )
    entry = get_entry("test-tagged-gf.run1")
    assert entry.name == "test-tagged-gf.run1" and entry.weights_path == path
    assert entry.train_command == "cmd" and "my run" in entry.description
    assert list_classifiers("test-tagged-*", pretrained=True) == ["test-tagged-gf.run1"]
    assert list_classifiers("test-tagged-*") == ["test-tagged-gf"]  # architectures only
    model = create_classifier("test-tagged-gf.run1", pretrained=True, device="cpu")
    for key, value in trained.state_dict().items():
        torch.testing.assert_close(model.state_dict()[key], value)
    with pytest.raises(ValueError, match="no shipped weights"):  # the plain name has none
        create_classifier("test-tagged-gf", pretrained=True)
    with pytest.raises(KeyError, match=r"no weights tagged 'run2'.*Did you mean 'run1'"):
        get_entry("test-tagged-gf.run2")
    with pytest.raises(ValueError, match="already registered"):
        register_weights("test-tagged-gf", "run1", weights="x", train_command="", description="")
    with pytest.raises(ValueError, match="untagged classifier name"):
        register_weights("test-tagged-gf.run1", "x", weights="x", train_command="", description="")
    with pytest.raises(ValueError, match="letters, digits"):
        register_weights("test-tagged-gf", "a.b", weights="x", train_command="", description="")
