"""Slice features: masking, fingerprints, buckets, script, and what ingest computes."""

from __future__ import annotations

from shadowgap.schemas import TrafficEvent
from shadowgap.slices.features import (
    cadence_bucket,
    compute_features,
    length_bucket,
    mask,
    metadata_keys,
    script_of,
    system_fingerprint,
    template_fingerprint,
)
from tests.support.factories import native_event


def test_mask_replaces_numbers_strings_ids_urls_and_whitespace() -> None:
    masked = mask(
        'Refund  order 98231 for "ACME Corp" (ref a3f9c2d1e8), see https://x.io/t/1 or '
        "mail bob@example.com, total 1,250.50"
    )
    assert masked == (
        "refund order <num> for <str> ( ref <id> ) , see <url> or mail <email> , total <num>"
    )


def test_one_template_one_fingerprint_and_different_templates_differ() -> None:
    filled = [
        f"Summarise support ticket #{n} from customer '{name}' in three bullet points."
        for n, name in ((1, "Ann"), (48213, "Bo Li"), (7, "Zoë"))
    ]
    assert len({template_fingerprint(text) for text in filled}) == 1
    other = "Translate the following product description into German, keeping the tone."
    assert template_fingerprint(other) != template_fingerprint(filled[0])


def test_near_duplicate_templates_mostly_fall_together() -> None:
    # One word changed at the end of a 40-word template: Jaccard of 3-shingles ~ 0.92, so
    # the one-hash MinHash matches for most such pairs; unrelated prompts essentially never.
    base = " ".join(f"word{i}" for i in range(40))
    same = sum(
        template_fingerprint(f"{base} end{k}") == template_fingerprint(f"{base} other{k}")
        for k in range(200)
    )
    unrelated = sum(
        template_fingerprint(f"alpha{k} beta gamma delta")
        == template_fingerprint(f"zeta{k} eta theta")
        for k in range(200)
    )
    assert same >= 150
    assert unrelated == 0


def test_system_fingerprint_masks_and_defaults_to_none() -> None:
    assert system_fingerprint([]) == "none"
    assert system_fingerprint(["You are agent 12."]) == system_fingerprint(["You are agent  7."])
    assert system_fingerprint(["You are a pirate."]) != system_fingerprint(["You are a lawyer."])


def test_length_and_cadence_buckets() -> None:
    assert [length_bucket(n) for n in (0, 63, 64, 255, 256, 4095, 4096)] == [
        "<64",
        "<64",
        "64-255",
        "64-255",
        "256-1023",
        "1024-4095",
        ">=4096",
    ]
    assert cadence_bucket(3, 3) == "occasional"
    assert cadence_bucket(20, 4) == "interactive"
    assert cadence_bucket(30, 1) == "steady"
    assert cadence_bucket(600, 2) == "burst"


def test_script_of_letters() -> None:
    assert script_of("How many eggs?") == "latin"
    assert script_of("Сколько яиц осталось?") == "cyrillic"
    assert script_of("كم عدد البيض") == "arabic"
    assert script_of("鸡蛋有几个") == "han"
    assert script_of("12 + 30 = ?") == "none"


def test_compute_features_of_an_event() -> None:
    raw = native_event(
        "f-1",
        attributes={
            "tenant": "acme",
            "team": "support",
            "user": "u-17",
            "api_key_alias": "bulk",
            "tags": ["surface:api", "lang:de"],
            "metadata": {"region": "eu", "secret_note": "not kept", "plan": "enterprise"},
        },
    )
    raw["request"]["messages"].insert(0, {"role": "system", "content": "You are terse."})
    event = TrafficEvent.model_validate(raw)
    features = compute_features(event, metadata_keys(["region", "plan"], ["metadata.tier"]))
    assert features["tenant"] == "acme"
    assert features["api_key_alias"] == "bulk"
    assert features["tag"] == ["lang:de", "surface:api"]
    assert features["metadata.region"] == "eu" and features["metadata.plan"] == "enterprise"
    assert "metadata.secret_note" not in features
    assert features["route_model"] == event.route.model
    assert features["script"] == "latin"
    assert features["system_prompt"] != "none" and len(features["template"]) == 12
    assert features["prompt_length"] in ("64-255", "256-1023")
