"""ClipEncoder: a tiny random CLIP loaded through the real from_pretrained path."""

import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline.encoder import (
    DEFAULT_MODEL,
    ClipEncoder,
    ModelUnavailableError,
    reference_image_embedding,
    resolve_model,
)

torch = pytest.importorskip("torch")

REPO = Path(__file__).resolve().parents[1]
TEXTS = ["a cat on a sofa", "a red car in the rain", "two dogs playing", "mountains at sunset, snow"]


def _images():
    """Different sizes and aspect ratios, smaller and larger than the 32px model input, and the
    modes a photo library meets (RGBA, grayscale, palette)."""
    rng = np.random.default_rng(0)

    def noise(h, w, c=3):
        return rng.integers(0, 256, (h, w, c) if c > 1 else (h, w), dtype=np.uint8)

    images = [Image.fromarray(noise(h, w)) for h, w in [(48, 64), (120, 30), (32, 32), (17, 23), (480, 640)]]
    images.append(Image.fromarray(noise(40, 50, 4), mode="RGBA"))
    images.append(Image.fromarray(noise(60, 45, 1), mode="L"))
    images.append(Image.fromarray(noise(33, 70)).convert("P"))
    return images


def _cosines(a, b):
    return np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


@pytest.fixture(scope="module")
def encoder(tiny_clip_dir):
    return ClipEncoder(tiny_clip_dir, device="cpu", dtype="fp32", batch_size=3)


def test_importing_the_module_pulls_in_neither_ray_lancedb_nor_torch():
    code = ("import pipeline.encoder, sys; "
            "assert 'ray' not in sys.modules and 'lancedb' not in sys.modules and 'torch' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)


def test_resolve_model_prefers_explicit_then_the_tables_model_then_default(monkeypatch):
    monkeypatch.setenv("IMAGESEARCH_MODEL", "/models/from-env")  # the encoder reads no environment
    assert resolve_model() == DEFAULT_MODEL == "openai/clip-vit-base-patch32"
    assert ClipEncoder().model_id == DEFAULT_MODEL
    assert resolve_model(None, "/models/of-the-table") == "/models/of-the-table"
    assert resolve_model("org/explicit", "/models/of-the-table") == "org/explicit"


def test_constructing_an_encoder_loads_nothing():
    enc = ClipEncoder("/no/such/model/dir")  # would raise if anything were read
    assert not enc.is_loaded
    assert enc._config is None and enc._processor is None


def test_dim_and_image_size_come_from_the_config_without_loading_weights(tiny_clip_dir):
    enc = ClipEncoder(tiny_clip_dir, device="cpu")
    assert (enc.dim, enc.image_size) == (16, 32)
    assert not enc.is_loaded


def test_prepare_images_reproduces_the_processors_pixels_as_uint8(encoder):
    images = _images()
    pixels = encoder.prepare_images(images)
    assert pixels.shape == (len(images), 3, 32, 32) and pixels.dtype == np.uint8
    expected = encoder.processor(images=images, return_tensors="np")["pixel_values"]
    scale, shift = (t.cpu().numpy() for t in encoder._normaliser())
    np.testing.assert_allclose(pixels.astype(np.float32) * scale - shift, expected, atol=1e-5)


def test_prepare_images_does_not_load_weights(tiny_clip_dir):
    enc = ClipEncoder(tiny_clip_dir, device="cpu")
    enc.prepare_images(_images()[:2])
    assert not enc.is_loaded


def test_batched_encode_images_matches_the_one_image_reference(encoder):
    images = _images()  # 8 images with batch_size 3: three forward passes, the last one short
    vectors = encoder.encode_images(images)
    reference = np.stack([reference_image_embedding(encoder.model, encoder.processor, im) for im in images])
    assert vectors.shape == (len(images), encoder.dim)
    assert _cosines(vectors, reference).min() >= 0.9999


def test_encode_prepared_equals_encode_images(encoder):
    images = _images()
    np.testing.assert_allclose(encoder.encode_prepared(encoder.prepare_images(images)),
                               encoder.encode_images(images), atol=1e-6)


def test_vectors_are_l2_normalised_float32(encoder):
    for vectors in (encoder.encode_images(_images()), encoder.encode_texts(TEXTS)):
        assert vectors.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_empty_inputs_give_zero_rows_of_the_right_width(encoder):
    assert encoder.encode_images([]).shape == (0, 16)
    assert encoder.encode_texts([]).shape == (0, 16)
    assert encoder.encode_prepared(np.zeros((0, 3, 32, 32), np.uint8)).shape == (0, 16)
    assert encoder.prepare_images([]).shape == (0, 3, 32, 32)


def test_encode_texts_batches_like_one_by_one_and_tells_texts_apart(encoder):
    batched = encoder.encode_texts(TEXTS)
    single = np.concatenate([encoder.encode_texts([t]) for t in TEXTS])
    assert batched.shape == (len(TEXTS), 16)
    np.testing.assert_allclose(batched, single, atol=1e-5)
    similarity = batched @ batched.T
    assert similarity[~np.eye(len(TEXTS), dtype=bool)].max() < 0.9999


def test_texts_longer_than_the_model_limit_are_truncated(encoder):
    vectors = encoder.encode_texts(["a very long caption " * 40])
    assert vectors.shape == (1, 16) and np.isfinite(vectors).all()


def test_floating_point_pixels_are_taken_as_already_normalised(encoder, monkeypatch):
    # The fallback for image processors we cannot replay: run the processor, skip our normalisation.
    images = _images()
    monkeypatch.setattr(ClipEncoder, "_recipe", property(lambda self: None))
    pixels = encoder.prepare_images(images)
    assert pixels.dtype == np.float32
    reference = np.stack([reference_image_embedding(encoder.model, encoder.processor, im) for im in images])
    assert _cosines(encoder.encode_prepared(pixels), reference).min() >= 0.9999


@pytest.mark.parametrize("model_id", ["/definitely/missing/model-dir", "nobody-here/bogus-clip-model"])
def test_missing_weights_raise_one_line_error_naming_the_fix(model_id, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    enc = ClipEncoder(model_id, device="cpu")
    for use in (lambda: enc.dim, lambda: enc.encode_texts(["x"]), lambda: enc.encode_images(_images()[:1])):
        with pytest.raises(ModelUnavailableError) as excinfo:
            use()
        message = str(excinfo.value)
        assert "\n" not in message and model_id in message and "IMAGESEARCH_MODEL" in message


def test_model_loads_once_when_threads_race_for_it(tiny_clip_dir):
    enc = ClipEncoder(tiny_clip_dir, device="cpu")
    seen = []
    threads = [threading.Thread(target=lambda: seen.append(enc.model)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(seen) == 4 and all(m is seen[0] for m in seen)


def test_forced_cpu_device_and_fp32(encoder):
    encoder.encode_texts(TEXTS[:1])
    assert encoder.device == "cpu" and encoder.dtype == "fp32"
    assert next(encoder.model.parameters()).device.type == "cpu"


def test_fp16_on_cpu_is_refused():
    with pytest.raises(ValueError, match="bf16"):
        _ = ClipEncoder("unused", device="cpu", dtype="fp16").dtype
    with pytest.raises(ValueError, match="unknown dtype"):
        ClipEncoder("unused", dtype="int3")


def test_bf16_on_cpu_stays_close_to_fp32(encoder, tiny_clip_dir):
    bf16 = ClipEncoder(tiny_clip_dir, device="cpu", dtype="bf16")
    images = _images()
    assert bf16.dtype == "bf16"
    assert _cosines(bf16.encode_images(images), encoder.encode_images(images)).min() >= 0.99
    assert _cosines(bf16.encode_texts(TEXTS), encoder.encode_texts(TEXTS)).min() >= 0.99


def test_release_drops_the_weights_and_the_next_call_reloads(tiny_clip_dir):
    enc = ClipEncoder(tiny_clip_dir, device="cpu", dtype="fp32")
    before = enc.encode_texts(TEXTS[:2])
    enc.release()
    assert not enc.is_loaded
    np.testing.assert_allclose(enc.encode_texts(TEXTS[:2]), before, atol=1e-6)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("dtype", ["fp16", "bf16"])
def test_half_precision_on_gpu_stays_close_to_fp32(encoder, tiny_clip_dir, dtype):
    gpu = ClipEncoder(tiny_clip_dir, device="cuda", dtype=dtype)
    images = _images()
    assert gpu.device == "cuda" and gpu.dtype == dtype
    assert _cosines(gpu.encode_images(images), encoder.encode_images(images)).min() >= 0.99
    assert _cosines(gpu.encode_texts(TEXTS), encoder.encode_texts(TEXTS)).min() >= 0.99
    assert ClipEncoder(tiny_clip_dir).device == "cuda" and ClipEncoder(tiny_clip_dir).dtype == "fp16"


def test_eight_threads_on_a_fresh_encoder_in_a_cold_process_all_succeed(tiny_clip_dir):
    """First use from many threads at once: imports and loading happen under one lock (a fresh
    interpreter, so transformers is not imported yet, as in a server's first requests)."""
    code = f"""
import threading, numpy as np
from pipeline.encoder import ClipEncoder
enc = ClipEncoder({tiny_clip_dir!r}, device="cpu", dtype="fp32")
start, results, errors = threading.Barrier(8), [None] * 8, []
def work(i):
    start.wait()
    try:
        results[i] = enc.encode_texts(["a cat on a sofa"])
    except Exception as exc:
        errors.append(repr(exc))
threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
[t.start() for t in threads]; [t.join() for t in threads]
assert not errors, errors
assert all(np.allclose(r, results[0]) for r in results)
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr[-2000:]


def test_auto_dtype_on_cpu_takes_bf16_only_where_it_is_native_and_measured_faster():
    from pipeline.encoding.cpu import auto_cpu_dtype, bf16_is_faster, cpu_flags

    assert auto_cpu_dtype(frozenset({"avx2", "avx512_bf16"}), bf16_faster=True) == "bf16"
    assert auto_cpu_dtype(frozenset({"avx2", "amx_bf16"}), bf16_faster=True) == "bf16"
    # Native flags but slower when timed (measured on a 2-core Xeon with avx512_bf16: 0.65x fp32).
    assert auto_cpu_dtype(frozenset({"avx2", "avx512_bf16"}), bf16_faster=False) == "fp32"
    assert auto_cpu_dtype(frozenset({"avx2", "fma"}), bf16_faster=True) == "fp32"  # emulated bf16 is 7x slower
    assert ClipEncoder("unused", device="cpu").dtype == auto_cpu_dtype(cpu_flags())
    assert bf16_is_faster() is bf16_is_faster()  # timed once per process, then remembered


def test_int8_on_cpu_stays_close_to_fp32_and_is_refused_on_accelerators(encoder, tiny_clip_dir):
    int8 = ClipEncoder(tiny_clip_dir, device="cpu", dtype="int8")
    images = _images()
    assert int8.dtype == "int8" and int8.int8_backend == "onnxruntime"
    assert _cosines(int8.encode_images(images), encoder.encode_images(images)).min() >= 0.98
    # Texts stay fp32 under onnxruntime int8: queries lose nothing.
    np.testing.assert_allclose(int8.encode_texts(["a red square"]), encoder.encode_texts(["a red square"]), atol=1e-6)
    with pytest.raises(ValueError, match="CPU option"):
        _ = ClipEncoder("unused", device="cuda", dtype="int8").dtype


def test_the_int8_tower_is_exported_once_then_loaded_from_the_cache(encoder, tiny_clip_dir, tmp_path, monkeypatch):
    from pipeline.encoding import onnx_int8

    monkeypatch.setenv(onnx_int8.CACHE_ENV, str(tmp_path / "cache"))
    exports = []
    real_export = onnx_int8.export_tower
    monkeypatch.setattr(onnx_int8, "export_tower", lambda *a: (exports.append(1), real_export(*a)))
    images = _images()
    first = ClipEncoder(tiny_clip_dir, device="cpu", dtype="int8").encode_images(images)
    second_encoder = ClipEncoder(tiny_clip_dir, device="cpu", dtype="int8")
    second = second_encoder.encode_images(images)
    assert exports == [1]  # the second encoder read the cached file
    assert second_encoder.tower.path.parent == tmp_path / "cache" / "onnx"
    assert [p.name for p in (tmp_path / "cache" / "onnx").iterdir()] == [second_encoder.tower.path.name]
    np.testing.assert_allclose(first, second, atol=1e-6)


def test_without_onnxruntime_int8_is_torch_dynamic_quantisation(encoder, tiny_clip_dir, monkeypatch):
    from pipeline.encoding import onnx_int8

    monkeypatch.setattr(onnx_int8, "available", lambda: False)
    int8 = ClipEncoder(tiny_clip_dir, device="cpu", dtype="int8")
    images = _images()
    assert int8.int8_backend == "torch" and int8.tower is None
    assert _cosines(int8.encode_images(images), encoder.encode_images(images)).min() >= 0.98


def test_a_draft_decoded_jpeg_gives_the_vector_of_its_full_decode(encoder, tmp_path):
    """Indexing decodes JPEGs with DCT scaling (a speed hint); the vectors must not notice. (Scaling
    right down to the 32 px input gave 0.996 here; twice the input side >= 0.9998 on these random
    textures with random weights, >= 0.99993 on benchmarks/quality_bench.py's trained model.)"""
    from pipeline.images import read_image_file

    rng = np.random.default_rng(3)
    paths = []
    for i, size in enumerate([(300, 300), (200, 150), (640, 480), (1000, 700)]):
        texture = rng.integers(0, 256, (size[1] // 6, size[0] // 6, 3), dtype=np.uint8)
        path = tmp_path / f"t{i}.jpg"
        Image.fromarray(texture).resize(size, Image.BILINEAR).save(path, "JPEG", quality=90)
        paths.append(path)
    drafted = encoder.encode_images([read_image_file(p, draft_size=encoder.image_size).image for p in paths])
    full = encoder.encode_images([Image.open(p) for p in paths])
    assert _cosines(drafted, full).min() >= 0.9995
