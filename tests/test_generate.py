"""Generation: reproducible seeds, validation before model work, progress, one run at a time,
missing weights, and generated images kept in the library and found again by image search."""

import hashlib
import json
import threading
from pathlib import Path

import numpy as np
import pytest

from pipeline.cli import main
from pipeline.generate import (
    GeneratedImage, GenerationParams, Generator, GeneratorUnavailableError, generation_busy, parse_size,
)
from pipeline.media import resolve_media_dir, save_media

PROMPT = "a red fox in the snow"


@pytest.fixture(scope="module")
def generator(tiny_sd_dir):
    return Generator(tiny_sd_dir, device="cpu")


def pixels(image: GeneratedImage) -> np.ndarray:
    return np.asarray(image.image, dtype=np.int16)


def fast(**overrides) -> GenerationParams:
    return GenerationParams(**{"prompt": PROMPT, "steps": 2, "seed": 3, **overrides})


def test_same_seed_gives_the_same_images_and_each_image_has_its_own_seed(generator):
    first = generator.generate(fast(n=2))
    again = generator.generate(fast(n=2))
    assert [im.seed for im in first] == [3, 4]
    assert [im.png for im in first] == [im.png for im in again]
    assert not np.array_equal(pixels(first[0]), pixels(first[1]))
    assert first[0].image.size == (64, 64)  # the tiny model's native size


def test_an_image_from_a_batch_is_reproduced_alone_from_its_seed(generator):
    batch = generator.generate(fast(n=2))
    alone = generator.generate(fast(seed=batch[1].seed, n=1))
    assert np.abs(pixels(batch[1]) - pixels(alone[0])).max() <= 2  # batched vs single matmuls round differently


def test_a_random_seed_is_reported_and_reproduces_the_image(generator):
    [image] = generator.generate(fast(seed=None, width=72, height=64))
    assert image.image.size == (72, 64)
    assert image.attributes["seed"] == image.seed and image.attributes["n"] == 1
    [again] = generator.generate(fast(seed=image.seed, width=72, height=64))
    assert again.png == image.png


def test_progress_is_reported_after_every_denoising_step(generator):
    steps = []
    generator.generate(fast(steps=3), on_step=lambda done, total: steps.append((done, total)))
    assert steps == [(1, 3), (2, 3), (3, 3)]


@pytest.mark.parametrize("overrides, message", [
    ({"prompt": "  "}, "prompt must not be empty"),
    ({"steps": 0}, "steps must be a whole number from 1 to 150"),
    ({"steps": 151}, "steps must be a whole number from 1 to 150"),
    ({"guidance": -1.0}, "guidance must be a number from 0 to 30"),
    ({"width": 100}, "width must be a multiple of 8 from 64 to 2048"),
    ({"height": 4096}, "height must be a multiple of 8 from 64 to 2048"),
    ({"n": 9}, "number of images must be from 1 to 8"),
    ({"seed": -1}, "seed must be a whole number"),
    ({"seed": 1.5}, "seed must be a whole number"),
])
def test_invalid_parameters_fail_with_one_line_before_any_model_work(overrides, message):
    unloadable = Generator("/nonexistent/sd-model", device="cpu")
    with pytest.raises(ValueError, match=message) as error:
        unloadable.generate(fast(**overrides))
    assert "\n" not in str(error.value)
    assert not unloadable.is_loaded


def test_sizes_parse_from_width_x_height():
    assert parse_size("512x768") == (512, 768)
    assert GenerationParams(PROMPT, width=1024, height=1024).validate()  # SDXL's native size is allowed
    with pytest.raises(ValueError, match="WIDTHxHEIGHT"):
        parse_size("512")


def test_missing_weights_are_one_sentence_with_the_fix(tmp_path):
    for model, hint in [(str(tmp_path / "missing"), "does not exist"), (str(tmp_path), "model_index.json"),
                        ("some-org/not-downloaded", "hf download")]:
        generator = Generator(model, device="cpu")
        with pytest.raises(GeneratorUnavailableError, match=hint) as error:
            generator.check_available()
        assert "IMAGESEARCH_SD_MODEL" in str(error.value) and "\n" not in str(error.value)
        with pytest.raises(GeneratorUnavailableError):
            generator.generate(fast())


def test_a_chosen_scheduler_and_memory_options_are_used_and_recorded(tiny_sd_dir):
    generator = Generator(tiny_sd_dir, device="cpu", scheduler="euler-a", attention_slicing=True, cpu_offload=True)
    [image] = generator.generate(fast(steps=1, guidance=0.0))  # SD-Turbo's settings: one step, no guidance
    assert image.attributes["scheduler"] == "EulerAncestralDiscreteScheduler"
    assert image.attributes["model"] == tiny_sd_dir
    with pytest.raises(ValueError, match="unknown scheduler"):
        Generator(tiny_sd_dir, scheduler="warp-drive")


def test_sdxl_pipelines_load_through_the_same_path(tmp_path):
    from tests.diffusion_factory import build_tiny_sdxl

    generator = Generator(str(build_tiny_sdxl(tmp_path / "sdxl")), device="cpu")
    [image] = generator.generate(fast())
    assert type(generator.pipe).__name__ == "StableDiffusionXLPipeline"
    assert image.image.size == generator.native_size() == (64, 64)


def test_one_generation_runs_at_a_time_and_the_second_caller_is_told_to_wait(generator):
    first_started, release = threading.Event(), threading.Event()
    waited = []

    def slow_step(done, total):
        first_started.set()
        release.wait(30)

    worker = threading.Thread(target=generator.generate, args=(fast(),), kwargs={"on_step": slow_step})
    worker.start()
    assert first_started.wait(60)
    assert generator.busy and generation_busy()
    second = threading.Thread(target=generator.generate, args=(fast(),),
                              kwargs={"on_wait": lambda: (waited.append(True), release.set())})
    second.start()
    worker.join(60)
    second.join(60)
    assert waited == [True] and not generation_busy()


def test_media_files_are_named_by_content_beside_a_local_database(tmp_path, monkeypatch):
    monkeypatch.delenv("IMAGESEARCH_MEDIA", raising=False)
    assert resolve_media_dir(str(tmp_path / "data" / "lancedb")) == str(tmp_path / "data" / "media")
    with pytest.raises(ValueError, match="IMAGESEARCH_MEDIA"):
        resolve_media_dir("s3://bucket/db")
    path = save_media(b"png bytes", str(tmp_path / "media"), "png")
    assert save_media(b"png bytes", str(tmp_path / "media"), ".PNG") == path  # kept twice, written once
    assert path == str(tmp_path / "media" / f"{hashlib.sha256(b'png bytes').hexdigest()}.png")
    assert [p.name for p in (tmp_path / "media").iterdir()] == [Path(path).name]  # no temp files left
    assert resolve_media_dir("s3://bucket/db", str(tmp_path / "elsewhere")) == str(tmp_path / "elsewhere")


@pytest.fixture
def cli_env(tmp_path, tiny_clip_dir, tiny_sd_dir, monkeypatch):
    monkeypatch.setenv("IMAGESEARCH_DB", str(tmp_path / "data" / "lancedb"))
    monkeypatch.setenv("IMAGESEARCH_MODEL", tiny_clip_dir)
    monkeypatch.setenv("IMAGESEARCH_SD_MODEL", tiny_sd_dir)
    monkeypatch.delenv("IMAGESEARCH_MEDIA", raising=False)
    return tmp_path


def test_generate_add_keeps_images_that_image_search_then_finds_first(cli_env, capsys):
    out_dir = cli_env / "out"
    code = main(["generate", PROMPT, "--steps", "2", "--seed", "11", "--n", "2", "--negative", "blurry",
                 "--out", str(out_dir), "--add", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0
    assert [im["seed"] for im in report["images"]] == [11, 12]
    media = cli_env / "data" / "media"
    for item in report["images"]:
        assert (media / f"{item['id']}.png").is_file()
        code = main(["search", "--image", item["path"], "--k", "2", "--json"])
        hits = json.loads(capsys.readouterr().out)["results"]
        assert code == 0 and hits[0]["id"] == item["id"] and hits[0]["score"] > 0.999

    from store import ImageLibrary

    row = ImageLibrary(str(cli_env / "data" / "lancedb")).get(report["images"][1]["id"])
    assert row["description"] == PROMPT and row["tags"] == ["generated"]
    assert row["uri"] == str(media / f"{report['images'][1]['id']}.png")
    attributes = json.loads(row["attributes"])
    assert attributes["seed"] == 12 and attributes["steps"] == 2 and attributes["negative_prompt"] == "blurry"

    code = main(["generate", PROMPT, "--steps", "2", "--seed", "11", "--n", "2", "--negative", "blurry",
                 "--out", str(out_dir), "--add"])
    out = capsys.readouterr().out
    assert code == 0 and report["images"][0]["id"] in out  # same command, same images: kept once
    code = main(["stats", "--json"])
    assert json.loads(capsys.readouterr().out)["rows"] == 2


@pytest.mark.parametrize("argv, message", [
    (["--size", "100x64"], "width must be a multiple of 8"),
    (["--size", "big"], "WIDTHxHEIGHT"),
    (["--steps", "0"], "steps must be"),
    (["--scheduler", "warp"], "unknown scheduler"),
    (["--sd-model", "/nonexistent/sd"], "IMAGESEARCH_SD_MODEL"),
])
def test_generate_cli_rejects_bad_input_with_one_line(cli_env, capsys, argv, message):
    code = main(["generate", PROMPT, "--out", str(cli_env / "out"), *argv])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1
    assert not (cli_env / "out").exists()
