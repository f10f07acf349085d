"""`engage train`, `evaluate` and `classify`: the emotion model and photos."""

from __future__ import annotations

import json
import os
import shlex
import sys
import threading
from pathlib import Path
from typing import Annotated

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import typer
from rich.table import Table

from engage.cli.common import ConfigOption, JsonOption, app, err, on_interrupt, out, print_json
from engage.cli.console import error_line, styled
from engage.config import load_config
from engage.errors import EngageError


@app.command("train")
def train_command(
    data: Annotated[
        Path | None,
        typer.Option(help="FER2013 as fer2013.npz (README: Data for measuring and training; default: $ENGAGE_DATA)"),
    ] = None,
    ferplus: Annotated[bool, typer.Option("--ferplus", help="FER+ crowd votes as soft labels; drop non-faces")] = False,
    ferplus_votes: Annotated[Path | None, typer.Option(help="ferplus_votes.npz (default: beside --data)")] = None,
    ferplus_weight: Annotated[float, typer.Option(help="Weight of the FER+ distribution in the soft label")] = 0.4,
    epochs: Annotated[int, typer.Option(min=1)] = 140,
    batch_size: Annotated[int, typer.Option(min=1)] = 64,
    learning_rate: Annotated[float, typer.Option(help="Peak learning rate (after warm-up)")] = 0.02,
    augmentation: Annotated[
        str, typer.Option(help="strong (every robustness effect) or light (milder, for short schedules)")
    ] = "strong",
    seed: Annotated[int, typer.Option()] = 2026,
    checkpoint_dir: Annotated[
        Path | None, typer.Option(help="Where the resumable checkpoint goes (default: models/training/RUN)")
    ] = None,
    out_dir: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Where the model files and card go (default: into models/ if it beats the shipped model on "
            "PublicTest, else RUN/candidate beside the checkpoint)",
        ),
    ] = None,
    hours: Annotated[
        float | None, typer.Option(min=0, help="Stop cleanly before an epoch that would end past this many hours")
    ] = None,
    limit: Annotated[int | None, typer.Option(help="Train on the first N images only (smoke runs)")] = None,
    max_steps: Annotated[int | None, typer.Option(help="Cap batches per epoch (smoke runs)")] = None,
) -> None:
    """Train the emotion CNN on FER2013; resumes from its checkpoint and exports when the last epoch is done."""
    from engage.training import require_training_packages

    require_training_packages()  # TensorFlow, Keras and matplotlib are the [train] extra
    from engage.paths import MODELS_DIR
    from engage.signals import stop_requested_by_signals
    from engage.training.data import AUGMENTATIONS, default_data_path
    from engage.training.export import CANDIDATE_DIR, export_run, ship_if_better
    from engage.training.train import TrainConfig, default_checkpoint_dir, train

    if augmentation not in AUGMENTATIONS:
        raise EngageError(f"--augmentation must be one of {', '.join(AUGMENTATIONS)}, not {augmentation!r}")
    data = data or default_data_path()
    votes = (ferplus_votes or data.with_name("ferplus_votes.npz")) if ferplus else None
    config = TrainConfig(
        data=data,
        ferplus=votes,
        ferplus_weight=ferplus_weight,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        augmentation=augmentation,
        seed=seed,
        limit=limit,
    )
    checkpoint_dir = checkpoint_dir or default_checkpoint_dir(MODELS_DIR, config.run_name())
    command = "engage " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = [
        TextColumn("epoch {task.fields[epoch]}/" + str(epochs)),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("batches, epoch ETA"),
        TimeRemainingColumn(),
    ]
    stop = threading.Event()
    with Progress(*columns, console=err, transient=True, disable=not err.is_terminal) as bar:
        task = bar.add_task("train", total=None, epoch=0)

        def on_batch(epoch: int, batch: int, steps: int) -> None:
            if batch == 1:
                bar.reset(task, total=steps, epoch=epoch)
            bar.update(task, completed=batch)

        def request_stop(name: str) -> None:
            stop.set()
            bar.console.print(f"{name}: stopping after this epoch (again to stop now, losing the epoch in hand)")

        with (
            on_interrupt(f"finished epochs are checkpointed in {checkpoint_dir}; rerun the same command to resume"),
            stop_requested_by_signals(request_stop),
        ):
            state = train(
                config,
                checkpoint_dir,
                log=bar.console.print,
                max_steps=max_steps,
                on_batch=on_batch,
                stop_requested=stop.is_set,
                hours=hours,
            )
    if state.epochs_done < config.epochs:
        err.print(f"{state.epochs_done}/{config.epochs} epochs done; the checkpoint is in {checkpoint_dir}")
        raise typer.Exit(130 if stop.is_set() else 0)
    if out_dir is not None:
        export_run(config, state, checkpoint_dir, out_dir, command, log=err.print)
        return
    # By default the run replaces the shipped model only if it beats it: exported beside its checkpoint first.
    candidate = checkpoint_dir / CANDIDATE_DIR
    export_run(config, state, checkpoint_dir, candidate, command, log=err.print)
    ship_if_better(candidate, MODELS_DIR, log=err.print)


@app.command("evaluate")
def evaluate_command(
    data: Annotated[
        Path | None,
        typer.Option(help="FER2013 as fer2013.npz (README: Data for measuring and training; default: $ENGAGE_DATA)"),
    ] = None,
    split: Annotated[str, typer.Option(help="test (PrivateTest), val (PublicTest) or train")] = "test",
    ferplus: Annotated[bool, typer.Option("--ferplus", help="Score against FER+ majority votes")] = False,
    ferplus_votes: Annotated[Path | None, typer.Option(help="ferplus_votes.npz (default: beside --data)")] = None,
    flip_tta: Annotated[bool, typer.Option("--flip-tta", help="Average each face with its mirror image")] = False,
    model: Annotated[Path | None, typer.Option(help="LiteRT model (default: the shipped one)")] = None,
    as_json: JsonOption = False,
) -> None:
    """Accuracy, macro-F1, per-class precision/recall/F1 and confusion matrix on a FER2013 split."""
    from engage.training.data import default_data_path
    from engage.training.evaluate import evaluate_split
    from engage.vision.classifier import EmotionClassifier

    data = data or default_data_path()
    votes = (ferplus_votes or data.with_name("ferplus_votes.npz")) if ferplus else None
    report = evaluate_split(EmotionClassifier(model), data, split, votes, flip_tta=flip_tta)
    if as_json:
        print_json(report)
        return
    out.print(f"{report['model']} on FER2013 {split} ({report['n']} faces, labels: {report['labels_from']})")
    out.print(f"accuracy {report['accuracy']:.2%}   macro-F1 {report['macro_f1']:.3f}")
    table = Table("emotion", "precision", "recall", "F1", "support")
    for emotion, m in report["per_class"].items():
        table.add_row(emotion, f"{m['precision']:.3f}", f"{m['recall']:.3f}", f"{m['f1']:.3f}", str(m["support"]))
    out.print(table)
    confusion = Table("true \\ predicted", *report["labels"])
    for emotion, row in zip(report["labels"], report["confusion_matrix"], strict=True):
        confusion.add_row(emotion, *map(str, row))
    out.print(confusion)


@app.command("classify")
def classify_command(
    paths: Annotated[list[Path], typer.Argument(help="Image files")],
    whole_image: Annotated[bool, typer.Option("--whole-image", help="Treat each image as one face crop")] = False,
    annotate: Annotated[
        Path | None,
        typer.Option(
            "--annotate", metavar="OUT_DIR", help="Also write each image with faces boxed and labelled, and charts"
        ),
    ] = None,
    config_file: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Detect and classify the faces in photos; prints every emotion's probability per face."""
    from engage.vision.photos import NO_FACE_HINT, classify_images

    config = load_config(config_file)
    taken: set[Path] = set()
    if annotate is not None:
        if annotate.exists() and not annotate.is_dir():
            raise EngageError(f"--annotate needs a folder, but {annotate} is a file")
        try:
            annotate.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise EngageError(f"cannot create the folder {annotate}: {exc.strerror}") from None
    failures = 0
    for result in classify_images(paths, config, whole_image=whole_image, keep_images=annotate is not None):
        if result.error:
            failures += 1
            err.print(error_line(f"{result.path}: {result.error}"))
            continue
        if not result.faces:
            err.print(f"{result.path}: {NO_FACE_HINT.format(min_face=config.detector.min_face)}")
        if annotate is not None and result.image is not None:
            from engage.vision.annotate import annotation_paths, write_annotations

            annotated, panel = annotation_paths(annotate, Path(result.path), taken)
            try:
                write_annotations(result.image, result.faces, annotated, panel, config.engagement)
            except OSError as exc:
                raise EngageError(f"cannot write to {annotate}: {exc.strerror}") from None
            err.print(f"wrote {annotated} and {panel}")
            result.image = None
        if as_json:
            sys.stdout.write(json.dumps(result.to_dict()) + "\n")
            continue
        out.print(f"{result.path}: {len(result.faces)} face(s)")
        for i, face in enumerate(result.faces, 1):
            scores = "  ".join(f"{k} {v:.2f}" for k, v in face.emotions.items())
            out.print(
                f"  face {i} at {face.box} ->",
                styled(face.label, "bold"),
                f"({face.emotions[face.label]:.0%})  {scores}",
            )
    if failures:
        raise EngageError(f"{failures} of {len(paths)} file(s) could not be classified")


@app.command("calibrate")
def calibrate_command(
    model: Annotated[Path | None, typer.Option(help="LiteRT model (default: the shipped one)")] = None,
    data: Annotated[
        Path | None,
        typer.Option(help="FER2013 as fer2013.npz (README: Data for measuring and training; default: $ENGAGE_DATA)"),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Measure a model on PublicTest (temperature, per-class bias, confusions) and write them beside it.

    Corrected emotion shares need them; `engage train` writes them when it exports a model.
    """
    from engage.training.calibration import calibrate_model
    from engage.vision.classifier import DEFAULT_MODEL, model_info_path

    model_path = model or DEFAULT_MODEL
    info = calibrate_model(model_path, data)
    if as_json:
        print_json(info)
        return
    shares = info["shares"]
    out.print(f"wrote {model_info_path(model_path)}")
    out.print(
        f"{shares['fitted_on']} ({shares['faces']} faces): temperature {info['temperature']:g}, per-class bias "
        + ", ".join(f"{e} {b:+.2f}" for e, b in zip(shares["labels"], shares["bias"], strict=True))
    )
