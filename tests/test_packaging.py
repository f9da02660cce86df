"""The install paths agree with each other, and CI runs what the README tells users to run."""

import pathlib
import re
import tomllib

ROOT = pathlib.Path(__file__).resolve().parent.parent


def names(specs):
    return {re.split(r"[<>=!~\[ ;]", s.strip(), maxsplit=1)[0].lower().replace("_", "-") for s in specs}


def environment_pip_specs():
    lines = (ROOT / "environment.yml").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "- pip:")
    specs = []
    for line in lines[start + 1:]:
        item = line.strip()
        if not item.startswith("- "):
            break
        specs.append(item[2:])
    return [s for s in specs if not s.startswith("-e")]


def test_environment_yml_and_pyproject_list_the_same_dependencies():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = names(project["dependencies"]) | names(project["optional-dependencies"]["test"])
    pinned = environment_pip_specs()
    assert names(pinned) == declared
    assert all("==" in s for s in pinned), "environment.yml pins exact versions"


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci_lines = [l.strip() for l in (ROOT / ".ci" / "run").read_text().splitlines()
                if l.strip() and not l.strip().startswith("#")]
    assert ci_lines[-1] == "bash run.sh test"
    assert "bash run.sh test" in readme


def test_no_machine_paths_in_tracked_text():
    pattern = re.compile(r"/(work|home|root|Users|tmp)/[\w.-]+/")
    offenders = []
    for path in ROOT.rglob("*"):
        if any(p in path.parts for p in (".venv", ".git", "site", "test-artifacts", "__pycache__")):
            continue
        if path.suffix in (".py", ".md", ".ipynb", ".yml", ".toml", ".json", ".csv", ".sh") and path.is_file():
            if pattern.search(path.read_text(errors="ignore")):
                offenders.append(str(path.relative_to(ROOT)))
    assert not offenders, f"absolute machine paths in {offenders}"


def test_readme_results_table_is_the_one_the_records_give():
    from capsule_lesson.reports import markdown_report

    readme = (ROOT / "README.md").read_text()
    for dataset in ("mnist", "fashion_mnist"):
        table = markdown_report(ROOT / "capsule_lesson" / "results" / "records", dataset)
        assert table.count("\n") >= 3, f"no {dataset} records to report"
        assert table in readme, (f"README's {dataset} results table is stale: paste "
                                 f"`python -m capsule_lesson.experiments report --dataset {dataset}`")
