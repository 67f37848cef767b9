"""The multi-look canvases: labels, digit scale and placement, clutter, seeding, batching."""

import pickle

import cv2
import numpy as np
import pytest

from classifiers.data import (
    LARGE_112,
    MAX2_84,
    SEARCH2_128,
    TASK_PRESETS,
    DigitAugment,
    DigitSet,
    ImageSource,
    TaskCanvas,
    TaskSpec,
    load_digits,
    mnist_canvases,
)


def boxes_of(sample) -> list[tuple[int, int, int, int]]:
    return list(sample.box) if isinstance(sample.box[0], tuple) else [sample.box]


@pytest.mark.parametrize("name", sorted(TASK_PRESETS))
def test_presets_shape_range_classes_and_boxes(name):
    spec = TASK_PRESETS[name]
    data = mnist_canvases(name, "test")
    assert isinstance(data, (TaskCanvas, ImageSource)) and data.num_classes == 10
    sample = data.sample(5, np.random.default_rng(0))
    assert sample.image.shape == (1, spec.size, spec.size) and sample.image.dtype == np.float32
    assert sample.image.min() >= 0.0 and sample.image.max() <= 1.0
    boxes = boxes_of(sample)
    assert len(boxes) == spec.num_digits
    for top, left, h, w in boxes:
        assert h == w == spec.digit_size
        assert 0 <= top <= spec.size - h and 0 <= left <= spec.size - w
        assert sample.image[0, top : top + h, left : left + w].sum() > 0


def test_label_is_the_largest_digit_on_the_canvas():
    # digit i is a block of intensity (i + 1) / 10: its box tells which digit was pasted there
    images = np.repeat((np.arange(1, 11, dtype=np.uint8) * 25)[:, None, None], 28, 1)
    images = np.repeat(images, 28, 2)
    labels = np.array([3, 1, 4, 1, 5, 9, 2, 6, 5, 3])
    data = TaskCanvas(DigitSet(images, labels), TaskSpec(size=100, num_digits=3))
    for seed in range(20):
        sample = data.sample(seed % 10, np.random.default_rng(seed))
        pasted = [round(sample.image[0, t, c] * 255 / 25) - 1 for t, c, _, _ in boxes_of(sample)]
        assert pasted[0] == seed % 10  # canvas i holds digit i
        assert seed % 10 not in pasted[1:]  # the others are other digits of the set
        assert sample.label == labels[pasted].max()
    assert data.num_classes == 10


def test_digits_never_overlap_and_fill_their_boxes():
    data = TaskCanvas(load_digits("test"), TaskSpec(size=100, num_digits=3, num_distractors=8))
    batch = data.sample_batch(np.arange(200), [np.random.default_rng(s) for s in range(200)])
    boxes = batch.boxes
    assert boxes.shape == (200, 3, 4)
    for canvas in boxes:
        for i in range(3):
            for j in range(i + 1, 3):
                assert np.abs(canvas[i, :2] - canvas[j, :2]).max() >= 28
    assert np.all(batch.labels >= load_digits("test").labels[:200])  # its own digit is one


def test_large_digits_are_the_scaled_mnist_digit():
    data = mnist_canvases("large112", "test")
    spec = LARGE_112
    sample = data.sample(7, np.random.default_rng(2))
    top, left, h, w = sample.box
    assert h == w == spec.digit_size == 56
    digit = cv2.resize(
        data.digits.images[7].astype(np.float32) / 255, (56, 56), interpolation=cv2.INTER_LINEAR
    )
    window = sample.image[0, top : top + h, left : left + w]
    assert np.all(window >= digit - 1e-6)  # the digit is pasted over any clutter
    assert np.isclose(window.sum(), digit.sum(), rtol=0.5)
    assert sample.label == data.digits.labels[7]


def test_fragments_come_from_other_digits_only():
    images = np.zeros((3, 28, 28), dtype=np.uint8)
    images[0] = 255  # only the canvas's own digit has ink
    data = TaskCanvas(DigitSet(images, np.arange(3)), TaskSpec(64, num_distractors=10))
    sample = data.sample(0, np.random.default_rng(0))
    assert np.isclose(sample.image.sum(), 28 * 28)
    images = np.full((3, 28, 28), 255, dtype=np.uint8)
    data = TaskCanvas(DigitSet(images, np.arange(3)), TaskSpec(128, num_distractors=3))
    assert data.sample(0, np.random.default_rng(0)).image.sum() > 28 * 28  # fragments add ink


@pytest.mark.parametrize("spec", [LARGE_112, MAX2_84, SEARCH2_128])
def test_seeded_and_batch_equals_canvases_one_by_one(spec):
    data = mnist_canvases(spec, "test", augment=DigitAugment()).head(50)
    indices = [0, 5, 5, 49]
    batch = data.sample_batch(indices, [np.random.default_rng(s) for s in range(4)])
    for j, index in enumerate(indices):
        single = data.sample(index, np.random.default_rng(j))
        assert np.array_equal(batch.images[j], single.image) and batch.labels[j] == single.label
        assert np.array_equal(batch.boxes[j], np.array(single.box))
    again = data.sample(5, np.random.default_rng(0)).image
    assert np.array_equal(again, data.sample(5, np.random.default_rng(0)).image)
    assert not np.array_equal(again, data.sample(5, np.random.default_rng(1)).image)


def test_pastes_equal_adding_one_by_one_then_clipping():
    # the batched pastes cap each layer at 1 as it lands; that must equal the plain recipe:
    # add every fragment, then the digit, one at a time in float32, and clip at the end
    spec = TaskSpec(48, digit_size=28, num_distractors=12, distractor_size=20)
    data = TaskCanvas(load_digits("test"), spec).head(40)
    indices = np.arange(40)
    batch = data.sample_batch(indices, [np.random.default_rng(s) for s in range(40)])
    _, draws = data.draw_integers(indices, [np.random.default_rng(s) for s in range(40)])
    pixels = data.digits.images.astype(np.float32) / 255
    f, n = spec.distractor_size, spec.num_distractors
    overlapping = 0
    for j, index in enumerate(indices):
        canvas = np.zeros((48, 48), dtype=np.float32)
        for source, crop_row, crop_col, row, col in draws[j, : 5 * n].reshape(n, 5):
            source += source >= index  # any digit but the canvas's own
            piece = pixels[source, crop_row : crop_row + f, crop_col : crop_col + f]
            canvas[row : row + f, col : col + f] += piece
        top, left = draws[j, 5 * n : 5 * n + 2]  # one digit: the first layout is used
        canvas[top : top + 28, left : left + 28] += pixels[index]
        overlapping += int((canvas > 1).any())
        np.clip(canvas, 0.0, 1.0, out=canvas)
        assert np.array_equal(batch.images[j, 0], canvas)
    assert overlapping > 10  # the clipping was exercised


def test_pickles_small_and_draws_the_same_canvases():
    # subprocess vector envs and DataLoader workers pickle the source: it must not carry views
    # that pickling would copy out (every fragment window of every digit is gigabytes)
    data = mnist_canvases("large112", "test")
    blob = pickle.dumps(data)
    assert len(blob) < 3 * (data._pixels.nbytes + data._unit.nbytes)
    again = pickle.loads(blob)
    first = data.sample_batch([3, 7], [np.random.default_rng(s) for s in range(2)])
    second = again.sample_batch([3, 7], [np.random.default_rng(s) for s in range(2)])
    assert np.array_equal(first.images, second.images)


def test_mnist_root_folder(mnist_root):
    data = mnist_canvases("max2x84", "test", mnist_root=mnist_root)
    assert len(data) == 20
    sample = data.sample(0, np.random.default_rng(0))
    assert sample.image.shape == (1, 84, 84) and 0 <= sample.label <= 9


def test_bad_specs_name_the_value():
    with pytest.raises(ValueError, match="num_digits must be >= 1"):
        TaskSpec(64, num_digits=0)
    with pytest.raises(ValueError, match="do not fit"):
        TaskSpec(56, num_digits=5)
    with pytest.raises(ValueError, match="distractor_size must be in"):
        TaskSpec(64, digit_size=20, distractor_size=24)
    with pytest.raises(IndexError, match="out of range"):
        mnist_canvases("max2x84", "test").sample(1000, np.random.default_rng(0))
