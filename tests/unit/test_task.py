import pytest

from kkimage.errors import TaskError
from kkimage.task import Variables, parse_tasks

PULL = {"images_dir": "/tmp/s", "manifests": ["quay.io/a/b:v1"]}


def parse(document, variables=None):
    warnings = []
    tasks = parse_tasks(document, variables or {}, warnings.append)
    return tasks, warnings


def test_list_of_tasks_and_the_bare_forms():
    for document in (
        [{"name": "p", "image": {"pull": PULL}}],
        {"name": "p", "image": {"pull": PULL}},
        {"pull": PULL},
    ):
        (task,), _ = parse(document)
        assert task.pull is not None and str(task.pull.manifests[0]) == "quay.io/a/b:v1"


def test_all_three_operations_in_one_task():
    document = {
        "image": {
            "pull": PULL,
            "push": {
                "images_dir": "/tmp/s",
                "dest": "hub/{{ .module.image.src.reference.repository }}",
            },
            "copy": {"from": {"path": "/tmp/s"}, "to": {"path": "/tmp/t", "pattern": "a"}},
        }
    }
    (task,), _ = parse(document)
    assert task.pull and task.push and task.copy
    assert task.copy.pattern.pattern == "a" and task.copy.manifests is None


def test_copy_reads_src_pattern_like_kubekey():
    (task,), _ = parse(
        {"copy": {"from": {"path": "/a"}, "to": {"path": "/b", "src_pattern": "x$"}}}
    )
    assert task.copy.pattern.pattern == "x$"


def test_unknown_keys_warn():
    _, warnings = parse({"pull": {**PULL, "plattform": ["amd64"]}})
    assert warnings == ["task 'task 1': pull: unknown key 'plattform' ignored"]


def test_user_variables_render_arguments_but_not_destinations():
    document = {
        "image": {
            "pull": {"images_dir": "{{ .dir }}", "manifests": ["{{ .reg }}/a:v1"]},
            "push": {"images_dir": "/s", "dest": "{{ .module.image.src.reference.repository }}"},
        }
    }
    (task,), _ = parse(document, {"dir": "/data/images", "reg": "quay.io"})
    assert str(task.pull.images_dir) == "/data/images"
    assert task.pull.manifests[0].registry == "quay.io"
    assert task.push.dest.is_template


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (None, "empty"),
        ([], "no tasks"),
        ({"name": "x", "shell": "ls"}, "no 'image' module"),
        ({"image": {}}, "none of pull, push, copy"),
        ({"pull": {"images_dir": "/s"}}, "manifests: at least one image reference"),
        ({"pull": {"images_dir": "/s", "manifests": []}}, "at least one"),
        ({"pull": {"manifests": ["quay.io/a:v1"]}}, "images_dir: a local directory is required"),
        ({"pull": {"images_dir": "/s", "manifests": "quay.io/../a:v1"}}, "'..'"),
        ({"pull": {"images_dir": "/s", "manifests": [{"a": 1}]}}, "expected a string"),
        ({"pull": {**PULL, "platform": ["linux/amd64/v8/x"]}}, "invalid platform"),
        ({"pull": {**PULL, "policy": "lenient"}}, "expected strict or warn"),
        ({"pull": {**PULL, "skip_tls_verify": "yes"}}, "expected true or false"),
        ({"pull": {**PULL, "auths": {"repo": "x"}}}, "expected a list"),
        ({"push": {"images_dir": "/s"}}, "dest: a destination is required"),
        (
            {"push": {"images_dir": "/s", "dest": "x/y", "src_pattern": "("}},
            "invalid regular expression",
        ),
        ({"push": {"images_dir": "/s", "dest": "{{ .a | nofunc }}"}}, "not defined"),
        ({"copy": {"from": {"path": "/a"}}}, "to: expected a mapping"),
        ({"copy": {"from": {"path": "/a"}, "to": {}}}, "to.path: a destination is required"),
        (
            {"pull": {"images_dir": "{{ .undefined }}", "manifests": ["a/b:1"]}},
            "undefined variable .undefined",
        ),
    ],
)
def test_bad_input_is_one_clear_line(document, message):
    with pytest.raises(TaskError) as caught:
        parse(document)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_variables_from_assignments():
    variables = Variables()
    variables.set("a=1")
    variables.set("b.c=x=y")
    assert variables.values == {"a": "1", "b": {"c": "x=y"}}
    with pytest.raises(TaskError):
        variables.set("novalue")
