import pytest
import torch

from gns_pyro.errors import WeightsError
from gns_pyro.models import CharacterParts
from gns_pyro.nets import LocationNet, StrokeNet, TerminationNet
from gns_pyro.pretrained import TYPE_PRIOR_WEIGHTS, load_type_prior, save_type_prior


def test_round_trip(tmp_path):
    torch.manual_seed(0)
    parts = CharacterParts()
    save_type_prior(parts, tmp_path / "w.pt")
    loaded = load_type_prior(tmp_path / "w.pt")
    assert not loaded.training
    for (k, a), (_, b) in zip(parts.state_dict().items(), loaded.state_dict().items()):
        torch.testing.assert_close(a, b, msg=k)
    assert not list(tmp_path.glob("*.tmp"))  # written atomically


def test_shipped_weights_load_by_default():
    assert TYPE_PRIOR_WEIGHTS.is_file(), "the package must ship trained type-prior weights"
    parts = load_type_prior()
    assert isinstance(parts, CharacterParts) and not parts.training


def test_other_architecture_is_a_clear_error(tmp_path):
    small = CharacterParts(stroke_net=StrokeNet(hidden_size=32))
    save_type_prior(small, tmp_path / "small.pt")
    payload = torch.load(tmp_path / "small.pt", weights_only=True)
    payload["config"] = CharacterParts().config()  # claims the default architecture
    torch.save(payload, tmp_path / "lying.pt")
    with pytest.raises(WeightsError, match="does not fit its architecture"):
        load_type_prior(tmp_path / "lying.pt")

    payload["state_dict"] = {"something_else.weight": torch.zeros(3)}
    torch.save(payload, tmp_path / "foreign.pt")
    with pytest.raises(WeightsError, match="another architecture"):
        load_type_prior(tmp_path / "foreign.pt")

    payload["config"] = {"location_net": {"no_such_option": 1}}
    torch.save(payload, tmp_path / "future.pt")
    with pytest.raises(WeightsError, match="unknown architecture"):
        load_type_prior(tmp_path / "future.pt")


def test_a_small_architecture_loads_from_its_own_description(tmp_path):
    parts = CharacterParts(
        LocationNet(num_components=5), StrokeNet(hidden_size=32), TerminationNet(channels=16)
    )
    save_type_prior(parts, tmp_path / "small.pt")
    assert load_type_prior(tmp_path / "small.pt").stroke_net.config["hidden_size"] == 32


def test_missing_or_garbage_file(tmp_path):
    with pytest.raises(WeightsError, match="gns-pyro train"):
        load_type_prior(tmp_path / "nothing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a torch file")
    with pytest.raises(WeightsError, match="cannot read"):
        load_type_prior(tmp_path / "junk.pt")
    torch.save({"hello": 1}, tmp_path / "dict.pt")
    with pytest.raises(WeightsError, match="not a gns-pyro type-prior"):
        load_type_prior(tmp_path / "dict.pt")


def test_shipped_record_vouches_for_the_shipped_file():
    import json

    from gns_pyro.fileio import file_sha256
    from gns_pyro.pretrained import TYPE_PRIOR_RECORD

    record = json.loads(TYPE_PRIOR_RECORD.read_text())
    assert record["weights_sha256"] == file_sha256(TYPE_PRIOR_WEIGHTS)


def test_damaged_copy_is_refused_by_its_record(tmp_path):
    """Flipping bytes of a weights file that has a record beside it is an error, not a load."""
    import shutil

    from gns_pyro.pretrained import TYPE_PRIOR_RECORD

    shutil.copyfile(TYPE_PRIOR_WEIGHTS, tmp_path / "type_prior.pt")
    shutil.copyfile(TYPE_PRIOR_RECORD, tmp_path / "type_prior.json")
    load_type_prior(tmp_path / "type_prior.pt")  # an intact copy loads
    data = bytearray((tmp_path / "type_prior.pt").read_bytes())
    for i in range(len(data) // 2, len(data) // 2 + 2000):  # inside the tensors, not the header
        data[i] ^= 0x5A
    (tmp_path / "type_prior.pt").write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="does not match the checksum"):
        load_type_prior(tmp_path / "type_prior.pt")


def test_non_finite_weights_are_refused(tmp_path):
    parts = CharacterParts()
    with torch.no_grad():
        next(parts.parameters()).fill_(float("nan"))
    save_type_prior(parts, tmp_path / "nan.pt")
    with pytest.raises(WeightsError, match="NaN or infinite"):
        load_type_prior(tmp_path / "nan.pt")


@pytest.mark.parametrize(
    "path, value, message",
    [
        (("stroke_net", "hidden_size"), 10**6, "not a size"),
        (("termination_net", "channels"), -3, "not a size"),
        (("location_net", "dropout"), 5.0, "not a rate"),
    ],
)
def test_absurd_sizes_are_refused_before_building(tmp_path, path, value, message):
    save_type_prior(CharacterParts(), tmp_path / "w.pt")
    payload = torch.load(tmp_path / "w.pt", weights_only=True)
    payload["config"][path[0]][path[1]] = value
    torch.save(payload, tmp_path / "absurd.pt")
    with pytest.raises(WeightsError, match=message):
        load_type_prior(tmp_path / "absurd.pt")


def test_an_architecture_too_large_for_memory_is_refused_before_building(tmp_path):
    """Each size within [1, 4096], together terabytes: counted on the meta device, refused."""
    save_type_prior(CharacterParts(), tmp_path / "w.pt")
    payload = torch.load(tmp_path / "w.pt", weights_only=True)
    payload["config"]["stroke_net"].update(hidden_size=4096, attention_size=4096, num_layers=64)
    torch.save(payload, tmp_path / "huge.pt")
    with pytest.raises(WeightsError, match="parameters, over the cap"):
        load_type_prior(tmp_path / "huge.pt")


def test_training_settings_too_large_for_memory_are_refused():
    from gns_pyro.errors import GNSError
    from gns_pyro.train.settings import TrainSettings, new_parts

    with pytest.raises(GNSError, match="--hidden-size 4096 and --attention-size 4096 .* over"):
        new_parts(TrainSettings(hidden_size=4096, attention_size=4096))
    assert sum(p.numel() for p in new_parts(TrainSettings()).parameters()) > 0
