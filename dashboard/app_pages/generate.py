"""Generate page: make images with Stable Diffusion, then keep them in the library or search for
what in the library looks like them. Runs as an st.navigation page or alone
(`streamlit run dashboard/app_pages/generate.py`)."""

from __future__ import annotations

import streamlit as st
from streamlit.errors import StreamlitAPIException

from dashboard import resources
from dashboard.resources import generator_problem, get_generator, get_library, media_dir
from pipeline.encoder import ModelUnavailableError
from pipeline.generate import GenerationParams, GeneratorUnavailableError
from store import LibraryError
from store.errors import one_line

KEY = "generate_"  # session_state keys of this page
COLUMNS = 4


def get_encoder():
    """The shared CLIP encoder, or ModelUnavailableError with the fix."""
    encoder, problem = resources.get_encoder()
    if encoder is None:
        raise ModelUnavailableError(problem)
    return encoder


def read_only() -> bool:
    return resources.settings().read_only


def _error_line(error: BaseException) -> str:
    text = one_line(error)
    if "out of memory" in text.lower():
        return (f"The GPU ran out of memory ({text}). Try fewer images, a smaller size, or set "
                "IMAGESEARCH_SD_CPU_OFFLOAD=1 / IMAGESEARCH_SD_ATTENTION_SLICING=1 and restart.")
    return text


def form() -> GenerationParams | None:
    with st.form(f"{KEY}form"):
        prompt = st.text_area("Prompt", key=f"{KEY}prompt", placeholder="a lighthouse at dusk, oil painting")
        negative = st.text_input("Negative prompt", key=f"{KEY}negative", placeholder="blurry, text, watermark")
        left, middle, right = st.columns(3)
        steps = left.number_input("Steps", 1, 150, 25, key=f"{KEY}steps")
        guidance = middle.number_input("Guidance", 0.0, 30.0, 7.5, step=0.5, key=f"{KEY}guidance",
                                       help="SD-Turbo wants 0 and 1-4 steps")
        n = right.number_input("Images", 1, 8, 1, key=f"{KEY}n")
        left, middle, right = st.columns(3)
        width = left.number_input("Width", 64, 2048, None, step=8, key=f"{KEY}width", placeholder="model default")
        height = middle.number_input("Height", 64, 2048, None, step=8, key=f"{KEY}height", placeholder="model default")
        seed = right.number_input("Seed", 0, 2**32 - 9, None, step=1, key=f"{KEY}seed", placeholder="random")
        if not st.form_submit_button("Generate", type="primary"):
            return None
    to_int = lambda v: None if v is None else int(v)  # noqa: E731
    return GenerationParams(prompt=prompt, negative_prompt=negative, steps=int(steps), guidance=float(guidance),
                            width=to_int(width), height=to_int(height), seed=to_int(seed), n=int(n))


def run_generation(params: GenerationParams) -> None:
    try:
        params.validate()  # a clear message before any model work
    except ValueError as error:
        st.error(str(error))
        return
    bar = st.progress(0.0, text="Loading the model…" if not get_generator().is_loaded else "Starting…")
    waiting = st.empty()

    def on_step(done: int, total: int) -> None:
        waiting.empty()
        bar.progress(min(done / max(total, 1), 1.0), text=f"Denoising step {done} of {total}")

    def on_wait() -> None:
        waiting.info("Another generation is running on this server; yours starts as soon as it finishes.")

    try:
        images = get_generator().generate(params, on_step=on_step, on_wait=on_wait)
    except GeneratorUnavailableError as error:
        bar.empty()
        st.error(str(error))
        return
    except Exception as error:  # noqa: BLE001 - CUDA OOM and friends: say so, keep the page alive
        bar.empty()
        st.error(f"Generation failed: {_error_line(error)}")
        return
    bar.empty()
    st.session_state[f"{KEY}results"] = images
    st.session_state[f"{KEY}kept"] = {}
    st.session_state.pop(f"{KEY}similar", None)


def keep(index: int) -> None:
    from pipeline.keep import add_generated

    image = st.session_state[f"{KEY}results"][index]
    try:
        [row_id] = add_generated(get_library(), get_encoder(), [image], media_dir())
    except (LibraryError, ModelUnavailableError, ValueError) as error:
        st.error(f"Could not add the image: {_error_line(error)}")
        return
    st.session_state[f"{KEY}kept"][index] = row_id


def search_similar(index: int) -> None:
    image = st.session_state[f"{KEY}results"][index]
    st.session_state["search_image_bytes"] = image.png  # the Search page picks this up
    try:
        st.switch_page("app_pages/search.py")
    except StreamlitAPIException:  # no Search page (this page runs alone): show the neighbours here
        pass
    library = get_library()
    try:
        if not library.exists():
            st.session_state[f"{KEY}similar"] = (index, [])
            return
        encoder = get_encoder()
        library.check_model(encoder.model_id, encoder.dim, encoder.identity)
        vector = encoder.encode_images([image.image])[0]
        hits = library.search(vector, k=8, with_thumbnail=True)
    except (LibraryError, ModelUnavailableError, ValueError) as error:
        st.error(f"Search failed: {_error_line(error)}")
        return
    st.session_state[f"{KEY}similar"] = (index, hits)


def results() -> None:
    images = st.session_state.get(f"{KEY}results") or []
    kept = st.session_state.get(f"{KEY}kept", {})
    for start in range(0, len(images), COLUMNS):
        for column, index in zip(st.columns(COLUMNS), range(start, min(start + COLUMNS, len(images)))):
            image = images[index]
            with column:
                st.image(image.image, caption=f"seed {image.seed}" + (" (flagged NSFW)" if image.nsfw else ""))
                st.download_button("Download", image.png, file_name=f"{image.seed}.png", mime="image/png",
                                   key=f"{KEY}download_{index}")
                if not read_only():
                    if index in kept:
                        st.caption(f"In the library as `{kept[index][:12]}`")
                    elif st.button("Add to library", key=f"{KEY}add_{index}"):
                        keep(index)
                        st.rerun()
                if st.button("Search similar", key=f"{KEY}similar_{index}"):
                    search_similar(index)
    similar = st.session_state.get(f"{KEY}similar")
    if similar is not None:
        index, hits = similar
        st.subheader(f"Library images like seed {images[index].seed}")
        if not hits:
            st.info("Nothing in the library yet.")
        for start in range(0, len(hits), COLUMNS):
            for column, hit in zip(st.columns(COLUMNS), hits[start:start + COLUMNS]):
                column.image(hit["thumbnail"], caption=f"{hit['score']:.3f} · {hit['file_name']}")


def main() -> None:
    st.title("Generate")
    generator = get_generator()
    problem = generator_problem(generator.model_id)
    if problem:
        st.error(f"Image generation is unavailable. {problem}")
        st.caption("Search, upload and the other pages work without it.")
        return
    st.caption(f"Model: `{generator.model_id}`")
    params = form()
    if params is not None:
        run_generation(params)
    results()


main()
