"""The guided path through the seed lesson: what to look at, in order, and a button that sets each up.

A step is plain data: a title, two or three sentences of our own on what to look at and why, the workspace
it happens in, and a *setup*: the name of a ``LessonActions`` method that puts the lab in the state the
step talks about (loads a network, opens a view, starts a run, opens the editor with the exercise's
change). The facts follow the lesson (the seed CNN, MNIST, the fully connected comparison and the
exercises); the words are the lab's.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Step:
    key: str
    title: str
    text: str
    workspace: str
    setup: str = ""  # a LessonActions method name; "" = only open the workspace
    button: str = "Show me"


STEPS: tuple[Step, ...] = (
    Step(
        "welcome",
        "Welcome",
        "cnnlab trains a small convolutional network to read handwritten digits while you watch it "
        "learn. This guide walks the lesson's path one step at a time: read a step, press its button to "
        "set the lab up, look, then go to the next. The guide opens and closes with F2.",
        "train",
        "",
        "Begin",
    ),
    Step(
        "architecture",
        "The network",
        "The seed network reads a 28x28 image with two blocks, each a 3x3 convolution (8, then 16 filters), "
        "a ReLU and a 2x2 max pooling, then one fully connected layer gives a score per digit. The editor "
        "lists each layer's output shape: 26x26x8, 13x13x8, 11x11x16, 5x5x16, 400, 10. That is only "
        "5,258 weights.",
        "build",
        "load_seed",
        "Show the seed network",
    ),
    Step(
        "train",
        "Train it",
        "Training shows the network a batch of 64 images, measures how wrong it is (the loss), and moves "
        "every weight a little downhill. Watch the loss fall and the accuracy climb within the first few "
        "hundred steps; one pass over MNIST's 60,000 images is one epoch.",
        "train",
        "train_seed",
        "Train the seed network",
    ),
    Step(
        "predictions",
        "Its answers",
        "After an epoch the network gets about 98 of 100 test images right. Look at the mistakes (most "
        "confident first): many are digits a person would hesitate over too. The bars under the matrix "
        "give each digit's accuracy; the confusion matrix shows which digits it mixes up.",
        "results",
    ),
    Step(
        "filters",
        "What it learned",
        "Nobody told the network to look for edges: the first layer's eight 3x3 filters start as random "
        "noise and turn into stroke and edge detectors by themselves. Compare them before training (Reset) "
        "and after a few hundred steps.",
        "inspect",
        "show_filters",
        "Show the filters",
    ),
    Step(
        "feature_maps",
        "Inside the network",
        "Draw a digit on the pad. Each feature map is one filter's answer across the image: bright where "
        "it found its pattern. The first layer reacts to strokes, the second to combinations of them; "
        "click a unit to see the patch of input it looks at and the sum it computes.",
        "inspect",
        "show_feature_maps",
        "Show the feature maps",
    ),
    Step(
        "cnn_vs_fc",
        "CNN against fully connected",
        "A fully connected network sees the image as 784 unrelated numbers. With 128 hidden units it needs "
        "101,770 weights, about 19 times the CNN's, and still does a little worse, because it cannot "
        "reuse a filter across the image. Run both and compare them side by side.",
        "compare",
        "compare_cnn_fc",
        "Run both and compare",
    ),
    Step(
        "ex_lr",
        "Exercise: the learning rate",
        "Train the same network with learning rates 0.001, 0.01 and 0.1. Too small and it crawls; too "
        "large and the loss jumps around or the run diverges. The comparison plots final accuracy "
        "against the rate.",
        "compare",
        "sweep_lr",
        "Run the three rates",
    ),
    Step(
        "ex_batch",
        "Exercise: the batch size",
        "Batch sizes 16, 32 and 64: smaller batches take more, noisier steps per epoch. Compare accuracy "
        "after one epoch, and the time each took.",
        "compare",
        "sweep_batch",
        "Run the three batch sizes",
    ),
    Step(
        "ex_kernel",
        "Exercise: 5x5 filters",
        "Make the first convolution's filters 5x5 instead of 3x3. Each filter then sees a larger patch; "
        "the maps shrink faster (24x24 instead of 26x26). Build it, train it, and compare it with the "
        "3x3 run.",
        "build",
        "edit_kernel_5",
        "Open the editor with 5x5 filters",
    ),
    Step(
        "ex_filters",
        "Exercise: more or fewer filters",
        "Halve or double the number of filters in both convolutions and see how accuracy and the "
        "parameter count move together. More filters can look for more kinds of stroke, but each one costs "
        "weights and time; for MNIST the seed network's 8 and 16 are already most of the way.",
        "build",
        "edit_filters_double",
        "Open the editor with twice the filters",
    ),
    Step(
        "ex_pool",
        "Exercise: average pooling",
        "Replace max pooling by average pooling: each window then keeps its mean instead of its strongest "
        "response. The network usually learns a little slower.",
        "build",
        "edit_avg_pool",
        "Open the editor with average pooling",
    ),
    Step(
        "ex_optimizer",
        "Exercise: optimizers",
        "Plain SGD, SGD with momentum and Adam take different paths downhill on the same loss. Run all "
        "three and compare their curves.",
        "compare",
        "sweep_optimizer",
        "Run the three optimizers",
    ),
    Step(
        "ex_activation",
        "Exercise: activations",
        "Swap ReLU for tanh, sigmoid or leaky ReLU. Sigmoid saturates and learns slowly in a network this "
        "deep; the weight norms show why.",
        "compare",
        "sweep_activation",
        "Run the activations",
    ),
    Step(
        "ex_more",
        "Going further",
        "Add a third convolution, batch normalisation or dropout in the editor; try other initialisations "
        "or Fashion-MNIST (Data). Every run is kept in Compare, named by what sets it apart.",
        "build",
    ),
)


def step_index(key: str) -> int:
    for i, step in enumerate(STEPS):
        if step.key == key:
            return i
    raise KeyError(key)
