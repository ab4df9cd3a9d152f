"""Errors map to exit codes in one place: bad input 2, a failed run 1, a bug 70 with its traceback on -v."""

import argparse

import pytest

from pipeline import cli
from pipeline.errors import BadInputError, ModelUnavailableError, RunFailedError, exit_code_for
from store.errors import InvalidFilterError, StorageFullError


def test_each_kind_of_error_has_its_exit_code():
    assert exit_code_for(BadInputError("x")) == 2
    assert exit_code_for(ModelUnavailableError("x")) == 2
    assert exit_code_for(InvalidFilterError("x")) == 2
    assert exit_code_for(RunFailedError("x")) == 1
    assert exit_code_for(StorageFullError("x")) == 1
    assert exit_code_for(ValueError("x")) is None  # a plain ValueError is a bug, not bad input
    assert exit_code_for(KeyError("x")) is None


def _parser_running(error: Exception):
    def build():
        parser = argparse.ArgumentParser(parents=[cli._common_options()])

        def run(_args):
            raise error

        parser.set_defaults(run=run)
        return parser
    return build


@pytest.mark.parametrize("verbose", [False, True])
def test_an_unexpected_exception_is_reported_as_a_bug_not_as_bad_input(monkeypatch, capsys, verbose):
    monkeypatch.setattr(cli, "build_parser", _parser_running(ValueError("deep inside")))
    assert cli.main(["-v"] if verbose else []) == 70
    err = capsys.readouterr().err
    assert "internal error: ValueError: deep inside" in err
    assert ("Traceback (most recent call last)" in err) == verbose


def test_bad_input_is_one_line_with_status_2(monkeypatch, capsys):
    monkeypatch.setattr(cli, "build_parser", _parser_running(BadInputError("no such folder: /nope")))
    assert cli.main([]) == 2
    assert capsys.readouterr().err == "error: no such folder: /nope\n"
