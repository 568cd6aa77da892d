"""Tasks built against the network IR: the names and shapes the network defines are checked."""

from __future__ import annotations

import pytest

from lbdsl.errors import SpecError
from lbdsl.ir.build import build_network
from lbdsl.program import build_module
from lbdsl.ir.tasks import InvertTask, TrainTask, build_task
from lbdsl.syntax.parser import parse
from task_helpers import problems

NETS = """network flat {
    input  u : 64
    param  W : 16x64 = normal(seed = 0)
    param  c : 1x16  = ones
    y = c @ relu(W @ u)
    output y
}
network scalar {
    input  u : 1
    param  w : 5x1 = ones
    repeat 3 {
        param b : 5 = zeros
        u = u + w.T @ relu(w @ u + b)
    }
    output u
}
network image {
    input  u : 8x8
    param  W : 16x64 = normal(seed = 0)
    z = relu(W @ u)
    output z
}
"""
N = NETS.count("\n")


def build(task_text: str):
    """The task of ``task_text`` (one task, after NETS) built against its network's IR."""
    module = parse(NETS + task_text, "t.lbn")
    task = module.tasks[0]
    net = next(n for n in module.networks if n.name.id == task.network.id)
    return task, build_network(net, ".", source=module.source)


def test_build_module_hands_the_ir_to_build_task():
    module = parse(NETS + 'invert image {\n    truth = image("camera")\n'
                   "    data = forward(truth)\n}\n", "t.lbn")
    program = build_module(module)
    (task,) = program.tasks
    assert isinstance(task, InvertTask) and task.truth.size is None


def test_image_size_must_match_the_input():
    task, ir = build('invert image {\n    truth = image("camera", size = 16x16)\n'
                     "    data = forward(truth)\n}\n")
    (p,) = problems(build_task, task, ir)
    assert (p.line, p.column) == (N + 2, 36)
    assert "the image is 16x16, but the input `u` of `image` is 8x8" in p.message
    assert p.hint == "use size = 8x8"


def test_a_flat_input_accepts_an_image_of_its_size_but_needs_the_size():
    task, ir = build('invert flat {\n    truth = image("camera", size = 8x8)\n'
                     "    data = forward(truth)\n}\n")
    assert build_task(task, ir).truth.size == (8, 8)
    task, ir = build('invert flat {\n    truth = image("camera")\n    data = forward(truth)\n}\n')
    (p,) = problems(build_task, task, ir)
    assert (p.line, p.column) == (N + 2, 13) and "the image needs a size" in p.message
    assert p.hint.startswith("give it: size = 8x8")    # the size that fits, not an example


def test_linspace_points_must_match_a_vector_input():
    task, ir = build("invert flat {\n    truth = linspace(0, 1, n = 10)\n"
                     "    data = forward(truth)\n}\n")
    (p,) = problems(build_task, task, ir)
    assert "makes 10 values, but the input `u` of `flat` is 64" in p.message
    task, ir = build("invert scalar {\n    truth = linspace(0, 1, n = 10)\n"
                     "    data = forward(truth)\n}\n")
    assert build_task(task, ir).truth.n == 10  # a batch of scalar problems


def test_penalty_names_resolve_to_ir_variables():
    task, ir = build("train flat {\n    data = digits\n"
                     "    penalty = 0.1 * l1(y.relu) + l2sq(y)\n}\n")
    t = build_task(task, ir)
    assert isinstance(t, TrainTask)
    assert [(p.variable, p.variable_id) for p in t.penalty.terms] == [("y.relu", "y.relu"),
                                                                       ("y", "y")]


def test_a_rebound_name_means_its_last_version():
    task, ir = build("train scalar {\n    data = digits\n    penalty = l1(u)\n}\n")
    # `u` is the input, but after `u = u + …` the name means the last residual state
    t = build_task(task, ir)
    assert t.penalty.terms[0].variable_id == "u#4"


def test_penalty_on_the_input_does_nothing_and_is_refused():
    task, ir = build("train image {\n    data = digits\n    penalty = 0.1 * l1(u)\n}\n")
    (p,) = problems(build_task, task, ir)
    assert (p.line, p.column) == (N + 3, 24)
    assert "`u` is the input of network `image`" in p.message


def test_penalty_on_an_unknown_name_lists_the_networks_variables():
    task, ir = build("train image {\n    data = digits\n    penalty = 0.1 * l1(zz)\n}\n")
    (p,) = problems(build_task, task, ir)
    assert "`zz` is not a variable of network `image`" in p.message
    assert "`z`" in p.hint


def test_module_errors_of_tasks_come_with_the_source():
    src = NETS + "invert imag {\n    data = load(\"f.npy\")\n}\n"
    with pytest.raises(SpecError) as info:
        build_module(parse(src, "t.lbn"))
    assert "did you mean `image`?" in str(info.value)
