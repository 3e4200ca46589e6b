"""The dataset sources are declared once (trials.datasets.SOURCES); loaders and the data command key by those ids."""

from __future__ import annotations

import pytest

from sweeprank import data_cmd
from trials.datasets import CATALOGUE, SOURCES, DatasetSource, check_dataset_name, how_to_prepare, local_path, source_of
from trials.errors import SpecError
from workers.trainer.data import SOURCE_LOADERS

EXAMPLES = {"tfds": "tfds:tiny_shapes/1.0.0", "imagefolder": "imagefolder:/data/leaves", "npz": "npz:/data/set.npz"}


def test_every_source_has_a_loader_and_every_loader_a_source() -> None:
    assert set(SOURCE_LOADERS) == set(SOURCES)


def test_the_data_command_knows_every_source_by_the_same_id() -> None:
    assert set(data_cmd.WHERE) == set(SOURCES)
    assert set(data_cmd.PREPARE) == set(SOURCES)


def test_every_catalogue_name_belongs_to_a_catalogued_source() -> None:
    for name, info in CATALOGUE.items():
        assert source_of(name) is SOURCES[info.source] and not SOURCES[info.source].prefixed


@pytest.mark.parametrize("source", [s for s in SOURCES.values() if s.prefixed], ids=lambda s: s.id)
def test_a_prefixed_sources_names_resolve_to_it(source: DatasetSource) -> None:
    name = EXAMPLES[source.id]
    info = check_dataset_name(name)
    assert source_of(name) is source and info.source == source.id
    assert (local_path(name) is not None) == bool(source.local)
    assert how_to_prepare(name)


@pytest.mark.parametrize("name", ["tfds:Upper", "imagefolder:relative/dir", "npz:/data/set.csv", "folder:/data"])
def test_a_name_its_source_refuses_is_a_spec_error(name: str) -> None:
    with pytest.raises(SpecError):
        check_dataset_name(name)


def test_an_unknown_name_lists_each_prefixed_sources_shape() -> None:
    with pytest.raises(SpecError, match=r"tfds:NAME, imagefolder:/ABS/DIR or npz:/ABS/FILE\.npz"):
        check_dataset_name("imagenet")
