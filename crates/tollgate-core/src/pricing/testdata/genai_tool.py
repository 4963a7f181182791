"""genai-prices data for Tollgate's importer tests (crates/tollgate-core/src/pricing/genai).

The committed sample was made from genai-prices 0.2.5. Run with a Python that has the package:

    python3 -m venv /tmp/genai/venv && /tmp/genai/venv/bin/pip install genai-prices
    PY=/tmp/genai/venv/bin/python; T=crates/tollgate-core/src/pricing/testdata

    # The whole data file (about 830 KB, not committed), in the shape of genai-prices' own
    # data.json (prices/new_data/v2/data.json), from the providers bundled in the package:
    $PY $T/genai_tool.py export > /tmp/genai/data.json
    # Its costs for a set of usages, as genai-prices computes them:
    $PY $T/genai_tool.py oracle /tmp/genai/data.json > /tmp/genai/oracle.json
    # The importer on both (an ignored test, run on its own):
    GENAI_PRICES_JSON=/tmp/genai/data.json GENAI_PRICES_COSTS=/tmp/genai/oracle.json \
        cargo nextest run -p tollgate-core --run-ignored ignored-only genai --no-capture

    # The trimmed sample committed here (every field shape of the whole file), and its costs:
    $PY $T/genai_tool.py sample /tmp/genai/data.json > $T/genai_prices_sample.json
    $PY $T/genai_tool.py oracle --small $T/genai_prices_sample.json > $T/genai_prices_sample_costs.json

The export is checked: genai-prices' own reader reads it back to exactly the bundled providers.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import sys
from decimal import Decimal
from typing import Any

ALIASES = {'or_': 'or', 'and_': 'and'}


def encode(v: Any) -> str:
    """JSON as genai-prices writes data.json: compact, None left out, amounts as numbers."""
    from genai_prices.types import ModelPrice

    if v is None:
        return 'null'
    if isinstance(v, bool):
        return 'true' if v else 'false'
    if isinstance(v, Decimal):
        if not v.is_finite():
            raise ValueError(f'non-finite amount {v}')
        return str(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, (datetime.date, datetime.time)):
        return encode(v.isoformat())
    if isinstance(v, ModelPrice):
        return encode_object({k: x for k, x in v.__dict__.items() if not k.startswith('_')})
    if dataclasses.is_dataclass(v):
        fields = {ALIASES.get(f.name, f.name): getattr(v, f.name) for f in dataclasses.fields(v)}
        return encode_object({k: x for k, x in fields.items() if not k.startswith('_')})
    if isinstance(v, dict):
        return encode_object(v)
    if isinstance(v, (list, tuple)):
        return '[' + ','.join(encode(x) for x in v) + ']'
    raise TypeError(f'cannot encode {type(v)}')


def encode_object(d: dict[str, Any]) -> str:
    return '{' + ','.join(f'{encode(str(k))}:{encode(x)}' for k, x in d.items() if x is not None) + '}'


def load(path: str) -> Any:
    with open(path) as f:
        return json.load(f, parse_float=Decimal)


def export() -> None:
    from genai_prices.data import providers
    from genai_prices.types import _providers_from_raw  # pyright: ignore[reportPrivateUsage]

    text = encode(providers)
    if _providers_from_raw(json.loads(text, parse_float=Decimal)) != providers:
        raise SystemExit('the export does not read back to the bundled providers')
    sys.stdout.write(text + '\n')


# The sample: these models, then any model that adds a shape the sample lacks.
PICKED = [
    ('anthropic', 'claude-sonnet-4-5'),
    ('anthropic', 'claude-opus-4-6'),
    ('anthropic', 'claude-haiku-4-5'),
    ('anthropic', 'claude-fable-5-2'),
    ('openai', 'gpt-4o'),
    ('openai', 'gpt-4.1'),
    ('openai', 'gpt-5.4'),
    ('openai', 'gpt-6.2-astra'),
    ('openai', 'gpt-realtime'),
    ('openai', 'gpt-live-1'),
    ('openai', 'gpt-image-1'),
    ('openai', 'moderation'),
    ('google', 'gemini-2.5-flash'),
    ('google', 'gemini-2.5-pro'),
    ('google', 'gemini-omni-flash-preview'),
    ('google', 'gemini-embedding-2'),
    ('deepseek', 'deepseek-chat'),
    ('deepseek', 'deepseek-v4-flash'),
    ('perplexity', 'sonar'),
    ('perplexity', 'sonar-deep-research'),
    ('perplexity', 'perplexity/sonar'),
    ('groq', 'whisper-large-v3'),
    ('groq', 'canopylabs/orpheus-v1-english'),
    ('mistral', 'mistral-ocr-2512'),
    ('x-ai', 'grok-voice-latest'),
    ('x-ai', 'grok-4.3'),
    ('openrouter', 'qwen/qwen3-coder-flash'),
    ('openrouter', 'mistralai/mistral-large-4-0'),
]


def shapes(provider: dict[str, Any], model: dict[str, Any]) -> set[str]:
    """Every field shape a model shows (with its provider's keys)."""
    found = {f'provider.{k}' for k in provider if k != 'models'}
    found |= {f'model.{k}' for k in model}

    def clauses(m: dict[str, Any]) -> None:
        for k, v in m.items():
            found.add(f'match.{k}')
            if k in ('or', 'and'):
                for c in v:
                    clauses(c)

    clauses(model['match'])

    def price_object(where: str, prices: dict[str, Any]) -> None:
        if not prices:
            found.add(f'{where}.empty')
        for k, v in prices.items():
            found.add(f'{where}.{k}')
            if isinstance(v, dict):
                found.add(f'{where}.{k}.tiers')
                if len(v['tiers']) > 1:
                    found.add(f'{where}.tiers.several')

    prices = model['prices']
    if isinstance(prices, dict):
        found.add('prices.object')
        price_object('prices', prices)
    else:
        found.add('prices.list')
        for c in prices:
            found.add('prices.constraint.' + ','.join(sorted(c.get('constraint') or {'none': 0})))
            price_object('prices', c['prices'])
    for v in model.get('price_variants') or []:
        found.add('price_variants.when.' + json.dumps(v['when'], sort_keys=True))
        found.add('price_variants.constraint.' + ','.join(sorted(v.get('constraint') or {'none': 0})))
        price_object('price_variants.prices', v['prices'])
    return found


def sample(path: str) -> None:
    data = load(path)
    chosen: dict[str, list[dict[str, Any]]] = {p['id']: [] for p in data}
    covered: set[str] = set()
    by_key = {(p['id'], m['id']): (p, m) for p in data for m in p['models']}
    for key in PICKED:
        p, m = by_key[key]
        chosen[p['id']].append(m)
        covered |= shapes(p, m)
    every = set().union(*(shapes(p, m) for p, m in by_key.values()))
    while covered != every:
        p, m = max(by_key.values(), key=lambda pm: len(shapes(*pm) - covered))
        chosen[p['id']].append(m)
        covered |= shapes(p, m)
    out = [{**p, 'models': chosen[p['id']]} for p in data if chosen[p['id']]]
    sys.stdout.write(encode(out) + '\n')


# Usages: genai-prices' Usage, and the same call as Tollgate meters it (token counts, where
# `input` and `output` are totals, and quantities priced per unit).
USAGES: dict[str, tuple[dict[str, int], dict[str, int], dict[str, int]]] = {
    'text': (dict(input_tokens=1000, output_tokens=500), dict(input=1000, output=500), {}),
    'cached': (
        dict(
            input_tokens=10000,
            cache_read_tokens=4000,
            cache_write_tokens=2000,
            cache_write_1h_tokens=500,
            output_tokens=800,
            output_reasoning_tokens=300,
        ),
        dict(input=10000, cached_input=4000, cache_write=2000, cache_write_1h=500, output=800, reasoning=300),
        {},
    ),
    'mid': (
        dict(input_tokens=150000, cache_read_tokens=20000, output_tokens=100),
        dict(input=150000, cached_input=20000, output=100),
        {},
    ),
    'long': (
        dict(input_tokens=300000, cache_read_tokens=100000, cache_write_tokens=20000, output_tokens=2000),
        dict(input=300000, cached_input=100000, cache_write=20000, output=2000),
        {},
    ),
    'huge': (dict(input_tokens=600000, output_tokens=100), dict(input=600000, output=100), {}),
    'media': (
        dict(
            input_tokens=5000,
            input_audio_tokens=1000,
            input_image_tokens=500,
            input_video_tokens=200,
            output_tokens=1000,
            output_audio_tokens=300,
            output_image_tokens=100,
        ),
        dict(input=5000, audio_input=1000, image_input=500, video_input=200, output=1000, audio_output=300, image_output=100),
        {},
    ),
    'units': (
        dict(
            input_tokens=100,
            output_tokens=50,
            web_searches=3,
            storage_searches=2,
            input_characters=1000,
            input_text_messages=7,
            audio_seconds=120,
            input_audio_seconds=120,
            input_document_pages=10,
            input_annotated_document_pages=4,
        ),
        dict(input=100, output=50),
        {
            'web_search': 3,
            'storage_search': 2,
            'input_character': 1000,
            'input_text_message': 7,
            'audio_second:input': 120,
            'page': 6,
            'page:annotated': 4,
        },
    ),
}

CONTEXTS = {
    'standard': None,
    'batch': {'processing': 'batch'},
    'flex': {'service_tier': 'flex'},
    'priority': {'service_tier': 'priority'},
}


def oracle(path: str, small: bool) -> None:
    """genai-prices' own cost of each usage, for each model, at a few instants (when `small`,
    one unless the model's prices change over time) and in each request context its variants
    know, computed from the data file at `path`."""
    from genai_prices.types import Usage, _providers_from_raw  # pyright: ignore[reportPrivateUsage]

    providers = _providers_from_raw(load(path))
    costs: dict[str, dict[str, str]] = {}
    for provider in providers:
        for model in provider.models:
            contexts = CONTEXTS if model.price_variants else {'standard': None}
            dated = isinstance(model.prices, list) or any(v.constraint for v in model.price_variants or ())
            times = ['2026-12-01T20:00:00Z']
            if dated or not small:
                times.insert(0, '2025-06-01T20:00:00Z')
            if not small:
                times.append('2027-06-01T20:00:00Z')
            for at in times:
                ts = datetime.datetime.fromisoformat(at.replace('Z', '+00:00'))
                for tier, context in contexts.items():
                    totals: dict[str, str] = {}
                    for name, (usage, _, _) in USAGES.items():
                        try:
                            calc = model.calc_price(
                                Usage(**usage), provider, genai_request_timestamp=ts, price_context=context
                            )
                        except ValueError:
                            continue
                        # 20 places: far below the nano Tollgate rounds to, within its decimals.
                        totals[name] = format(calc.total_price.quantize(Decimal('1e-20')).normalize(), 'f')
                    costs[f'{provider.id}|{model.id}|{at}|{tier}'] = totals
    usages = {name: {'tokens': tokens, 'quantities': quantities} for name, (_, tokens, quantities) in USAGES.items()}
    sys.stdout.write('{"usages":' + json.dumps(usages) + ',\n"costs":{\n')
    sys.stdout.write(',\n'.join(f'{json.dumps(k)}:{json.dumps(v)}' for k, v in costs.items()))
    sys.stdout.write('\n}}\n')


if __name__ == '__main__':
    match sys.argv[1:]:
        case ['export']:
            export()
        case ['sample', path]:
            sample(path)
        case ['oracle', path]:
            oracle(path, small=False)
        case ['oracle', '--small', path]:
            oracle(path, small=True)
        case _:
            raise SystemExit(__doc__)
