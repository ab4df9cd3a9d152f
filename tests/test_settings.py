"""Settings: defaults, then the environment, then explicit arguments; read once, handed down."""

import pytest

import store
from pipeline.images import DecodeLimits
from pipeline.settings import DEFAULT_DB, DEFAULT_TABLE, Settings, StorageCredentials


def test_defaults_then_environment_then_explicit_arguments():
    assert Settings.load(env={}) == Settings()
    assert (DEFAULT_DB, DEFAULT_TABLE) == (store.DEFAULT_DB, store.DEFAULT_TABLE)
    env = {"IMAGESEARCH_DB": "/env/db", "IMAGESEARCH_TABLE": "photos", "IMAGESEARCH_MODEL": "/env/model",
           "IMAGESEARCH_READ_ONLY": "yes", "IMAGESEARCH_DEVICE": "cpu"}
    from_env = Settings.load(env=env)
    assert (from_env.db, from_env.table, from_env.model, from_env.read_only, from_env.device) == \
        ("/env/db", "photos", "/env/model", True, "cpu")
    explicit = Settings.load(env=env, db="/cli/db", table=None, model="org/cli")
    assert (explicit.db, explicit.table, explicit.model) == ("/cli/db", "photos", "org/cli")


def test_limits_come_from_the_environment():
    limits = Settings.load(env={"IMAGESEARCH_MAX_FILE_MB": "1.5", "IMAGESEARCH_MAX_PIXELS": "20_000_000",
                                "IMAGESEARCH_HTTP_TIMEOUT": "2.5", "IMAGESEARCH_MAX_PIXELS_UNUSED": "x"}).limits
    assert limits == DecodeLimits(max_file_bytes=int(1.5 * 1024 * 1024), max_pixels=20_000_000, http_timeout_s=2.5)
    assert Settings.load(env={"IMAGESEARCH_MAX_FILE_MB": "", "IMAGESEARCH_MAX_PIXELS": " "}).limits == DecodeLimits()


@pytest.mark.parametrize("name,value", [
    ("IMAGESEARCH_MAX_FILE_MB", "lots"), ("IMAGESEARCH_MAX_FILE_MB", "-1"), ("IMAGESEARCH_MAX_FILE_MB", "0"),
    ("IMAGESEARCH_MAX_FILE_MB", "inf"), ("IMAGESEARCH_MAX_PIXELS", "1e6.5"), ("IMAGESEARCH_MAX_PIXELS", "2.5"),
    ("IMAGESEARCH_MAX_PIXELS", "nan"), ("IMAGESEARCH_HTTP_TIMEOUT", "0"), ("IMAGESEARCH_READ_ONLY", "maybe"),
])
def test_a_bad_value_in_the_environment_is_a_one_line_error_naming_it(name, value):
    with pytest.raises(ValueError) as excinfo:
        Settings.load(env={name: value})
    message = str(excinfo.value)
    assert name in message and repr(value) in message and "\n" not in message


def test_one_parser_for_storage_credentials_serves_lancedb_and_pyarrow():
    env = {"AWS_ACCESS_KEY_ID": "AKIA", "AWS_SECRET_ACCESS_KEY": "SECRET", "AWS_DEFAULT_REGION": "eu-west-1",
           "AWS_ENDPOINT_URL": "http://127.0.0.1:9000"}
    credentials = StorageCredentials.from_env(env)
    assert credentials.lance_options() == {"aws_access_key_id": "AKIA", "aws_secret_access_key": "SECRET",
                                           "region": "eu-west-1", "aws_endpoint": "http://127.0.0.1:9000",
                                           "allow_http": "true"}
    assert credentials.pyarrow_options() == {"access_key": "AKIA", "secret_key": "SECRET", "region": "eu-west-1",
                                             "endpoint_override": "127.0.0.1:9000", "scheme": "http"}
    assert "SECRET" not in repr(Settings.load(env=env)) and "AKIA" not in repr(credentials)


def test_the_read_only_setting_reaches_the_library_which_refuses_writes(tmp_path):
    library = Settings.load(env={"IMAGESEARCH_DB": str(tmp_path), "IMAGESEARCH_READ_ONLY": "1"}).open_library()
    with pytest.raises(store.ReadOnlyError):
        library.ensure("m", 4)


def test_the_store_reads_no_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("IMAGESEARCH_DB", str(tmp_path / "env-db"))
    monkeypatch.setenv("IMAGESEARCH_READ_ONLY", "1")
    library = store.ImageLibrary(str(tmp_path / "given"))
    assert library.db_uri == str(tmp_path / "given") and not library.read_only
