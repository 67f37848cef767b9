import numpy as np
import pytest

from classifiers.data import (
    CLUTTERED_60,
    CLUTTERED_100,
    TRANSLATED_60,
    CanvasDataset,
    CanvasSpec,
    DigitAugment,
    DigitSet,
    ImageSource,
    load_digits,
    load_folder_digits,
    mnist_canvases,
)
from classifiers.data.digits import _embedded_digits, embedded_split_indices


def test_embedded_split_is_stratified_disjoint_and_deterministic():
    _, labels = _embedded_digits()
    train = embedded_split_indices(labels, "train")
    test = embedded_split_indices(labels, "test")
    assert len(train) == 4000 and len(test) == 1000
    assert not set(train) & set(test)
    assert np.bincount(labels[test]).tolist() == [100] * 10
    assert np.array_equal(test, embedded_split_indices(labels, "test"))
    assert not np.array_equal(test, embedded_split_indices(labels, "test", seed=1))


def test_load_digits_shapes():
    digits = load_digits("test")
    assert digits.images.shape == (1000, 28, 28) and digits.images.dtype == np.uint8
    assert digits.images.max() == 255


@pytest.mark.parametrize("spec", [TRANSLATED_60, CLUTTERED_60, CLUTTERED_100])
def test_canvas_shape_range_and_digit_placement(spec):
    data = mnist_canvases(spec, "test")
    assert isinstance(data, ImageSource)
    sample = data.sample(5, np.random.default_rng(0))
    assert sample.image.shape == (1, spec.size, spec.size) and sample.image.dtype == np.float32
    assert sample.image.min() >= 0.0 and sample.image.max() <= 1.0
    top, left, h, w = sample.box
    digit = data.digits.images[5] / 255.0
    window = sample.image[0, top : top + h, left : left + w]
    assert np.all(window >= digit - 1e-6)  # the target is pasted last, on top of any clutter
    assert sample.label == data.digits.labels[5]


def test_translated_canvas_holds_only_the_digit():
    data = mnist_canvases("translated60", "test")
    sample = data.sample(3, np.random.default_rng(1))
    assert np.isclose(sample.image.sum(), data.digits.images[3].sum() / 255.0, rtol=1e-5)


def test_canvas_is_a_function_of_the_rng():
    data = mnist_canvases("cluttered100", "test")
    a = data.sample(7, np.random.default_rng(3)).image
    b = data.sample(7, np.random.default_rng(3)).image
    c = data.sample(7, np.random.default_rng(4)).image
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_distractors_never_come_from_the_target_digit():
    images = np.zeros((3, 28, 28), dtype=np.uint8)
    images[0] = 255  # only the target has ink: any ink outside its box would be its own fragment
    data = CanvasDataset(DigitSet(images, np.arange(3)), CanvasSpec(60, 20))
    for seed in range(5):
        sample = data.sample(0, np.random.default_rng(seed))
        assert np.isclose(sample.image.sum(), 28 * 28)


def test_distractors_come_from_other_digits():
    images = np.zeros((3, 28, 28), dtype=np.uint8)
    images[1:] = 255
    data = CanvasDataset(DigitSet(images, np.arange(3)), CanvasSpec(60, 4))
    sample = data.sample(0, np.random.default_rng(0))
    assert np.isclose(sample.image.sum(), 4 * 64, atol=64 * 3)  # 4 fragments, overlaps clip
    assert sample.image.sum() > 0


def test_augment_is_seeded_and_keeps_shape():
    digit = load_digits("test").images[0].astype(np.float32) / 255
    aug = DigitAugment()
    a = aug(digit, np.random.default_rng(0))
    assert a.shape == (28, 28)
    assert np.array_equal(a, aug(digit, np.random.default_rng(0)))
    assert not np.array_equal(a, digit)


def test_folder_layout_gz_and_plain(mnist_root):
    train = load_folder_digits(mnist_root, "train")
    test = load_folder_digits(mnist_root, "test")
    assert train.images.shape == (30, 28, 28) and test.images.shape == (20, 28, 28)
    assert test.labels.tolist() == [i % 10 for i in range(20)]
    assert len(load_digits("train", mnist_root=mnist_root / "MNIST" / "raw")) == 30
    data = mnist_canvases("cluttered60", "test", mnist_root=mnist_root)
    assert data.sample(0, np.random.default_rng(0)).image.shape == (1, 60, 60)


def test_folder_errors_name_the_problem(tmp_path, mnist_root):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_folder_digits(tmp_path / "nowhere", "train")
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte"):
        load_folder_digits(tmp_path, "train")
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    source = mnist_root / "MNIST" / "raw"
    (raw / "t10k-labels-idx1-ubyte").write_bytes((source / "t10k-labels-idx1-ubyte").read_bytes())
    full = (source / "t10k-images-idx3-ubyte").read_bytes()
    (raw / "t10k-images-idx3-ubyte").write_bytes(full[:-100])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        load_folder_digits(tmp_path, "test")
    (raw / "t10k-images-idx3-ubyte").write_bytes(b"\x12\x34" + full[2:])
    with pytest.raises(ValueError, match="magic"):
        load_folder_digits(tmp_path, "test")


def test_bad_arguments():
    with pytest.raises(ValueError, match="split must be one of"):
        load_digits("validation")
    with pytest.raises(ValueError, match="unknown canvas preset"):
        mnist_canvases("cluttered70")
    with pytest.raises(ValueError, match="canvas size"):
        CanvasSpec(size=20)
    with pytest.raises(IndexError, match="out of range"):
        mnist_canvases("translated60", "test").sample(1000, np.random.default_rng(0))


@pytest.mark.parametrize("preset", ["translated60", "cluttered100"])
def test_batch_equals_canvases_rendered_one_by_one(preset):
    data = mnist_canvases(preset, "test", augment=DigitAugment())
    indices = [0, 5, 5, 999]
    batch = data.sample_batch(indices, [np.random.default_rng(s) for s in range(4)])
    assert batch.images.shape == (4, *data.image_shape) and batch.boxes.shape == (4, 4)
    for j, index in enumerate(indices):
        single = data.sample(index, np.random.default_rng(j))
        assert np.array_equal(batch.images[j], single.image)
        assert batch.labels[j] == single.label and tuple(batch.boxes[j]) == single.box
    with pytest.raises(ValueError, match="2 indices but 1 RNGs"):
        data.sample_batch([0, 1], [np.random.default_rng(0)])


def test_placements_cover_the_whole_canvas():
    data = mnist_canvases("translated60", "test")
    rng = np.random.default_rng(0)
    boxes = data.sample_batch([0] * 3000, [rng] * 3000).boxes
    assert boxes[:, 0].min() == 0 and boxes[:, 0].max() == 60 - 28
    assert len(np.unique(boxes[:, 1])) == 60 - 28 + 1
