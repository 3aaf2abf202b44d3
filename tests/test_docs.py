"""The README reads in five minutes and stays true: short, links that resolve, no commit hashes, its claims block
generated from figures/claims.json, its own-model example runnable."""

import json
import re
from pathlib import Path

import torch
from torch import nn

from mdeinterp import claims

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def _links(path: Path) -> list[str]:
    return [m for m in re.findall(r"\]\(([^)#\s]+)", path.read_text()) if not m.startswith(("http", "mailto:"))]


def test_the_readme_is_short():
    assert len(README.read_text().splitlines()) <= 210


def test_every_relative_link_of_the_readme_and_docs_resolves():
    for page in [README, *sorted((ROOT / "docs").glob("*.md"))]:
        for link in _links(page):
            assert (page.parent / link).exists(), f"{page.relative_to(ROOT)} links to a missing {link}"


def test_the_readme_names_no_commit_hash():
    assert not re.search(r"\b(?=[0-9a-f]*[a-f])(?=[0-9a-f]*[0-9])[0-9a-f]{7,40}\b", README.read_text())


def test_the_claims_block_is_generated_from_claims_json():
    text = README.read_text()
    assert text.count(claims.README_START) == 1 and text.count(claims.README_END) == 1
    block = text.split(claims.README_START)[1].split(claims.README_END)[0].strip()
    entries = json.loads((ROOT / "figures" / "claims.json").read_text())
    own_model = ROOT / "figures" / claims.OWN_MODEL_CLAIMS  # notebook 07's claims, once it has written them
    assert block == claims.readme_block(ROOT / "figures" / "claims.json").strip(), (
        "run claims.update_readme_block('README.md', 'figures/claims.json')")
    if not own_model.exists():
        assert block == claims.claims_markdown([claims.Claim.from_dict(e) for e in entries]).strip()
    else:
        entries += json.loads(own_model.read_text())
    for entry in entries:  # every claim not reproduced is named with its verdict
        if entry["state"] != "reproduced":
            assert f"**{entry['state']}**" in block


def test_the_own_model_example_runs():
    code = README.read_text().split("## Your own model")[1].split("```python")[1].split("```")[0]
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.decoder = nn.Module()
            self.decoder.up2 = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU())
            self.head = nn.Conv2d(8, 1, 1)

        def forward(self, x):
            return nn.functional.softplus(self.head(self.decoder.up2(x))) + 0.5

    g = torch.Generator().manual_seed(0)
    dataset = [{"image": torch.rand(3, 16, 16, generator=g), "depth": 0.8 + 9 * torch.rand(1, 16, 16, generator=g)}
               for _ in range(4)]
    batch = {"image": torch.stack([d["image"] for d in dataset]), "depth": torch.stack([d["depth"] for d in dataset])}
    scope = {"model": Net(), "dataset": dataset, "batch": batch, "print": lambda *a: None}
    exec(code, scope)
    assert torch.isfinite(scope["loss"]) and scope["found"].summary().loc[0, "units"] == 8
