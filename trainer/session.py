"""One training run, wired: loaders, model (DDP on several ranks), checkpoints, and the saved results."""

from __future__ import annotations

import torch

from labcore.clients import store_errors
from labcore.settings import Settings
from labcore.shards import shards_prefix
from labcore.stores import STORES
from trainer.checkpoints import Checkpointer, Resumed, apply
from trainer.connector import connector_errors, export_credentials
from trainer.datasets import ORDER_VERSION, build_loader
from trainer.distributed import World
from trainer.loop import Training, fit
from trainer.model import SmallCNN
from trainer.planning import SplitPlan
from trainer.run_outputs import write_run_outputs
from trainer.trained_set import Listing, ShardListing
from trainer.watchdog import Watchdog


class Session:
    """A run of the trainer on one rank: built after the world is joined and the splits are planned."""

    def __init__(
        self,
        settings: Settings,
        world: World,
        run_id: str,
        train_plan: SplitPlan,
        test_plan: SplitPlan,
        *,
        strict: bool = False,
    ):
        self.settings, self.world, self.run_id = settings, world, run_id
        self.train_plan, self.test_plan, self.strict = train_plan, test_plan, strict
        export_credentials(settings)
        torch.manual_seed(settings.seed)
        s = settings
        common = {"batch_size": s.batch_size, "workers": s.num_workers, "shuffle_buffer": s.shuffle_buffer}
        common["seed"] = s.seed
        self.config = {"loader": s.loader, "lr": s.lr, **common, "world_size": world.size}
        self.config["order"] = ORDER_VERSION
        self.config["data"] = train_plan.fingerprint()
        # Datasets are built after joining the world: every loader reads the rank when built.
        self.train = self._loader("train", train_plan, shuffle=True, **common)
        self.test = self._loader("test", test_plan, shuffle=False, **common)
        # Loaders that can deal an epoch without some of its samples record the trained ones, by
        # their place in the split's sorted listing: map's own (its indices), else one made here.
        self.listing: Listing | ShardListing | None = None
        if self.train.elastic:
            if train_plan.sharded:
                self.listing = ShardListing(train_plan.shards)
            else:
                self.listing = self.train.listing or Listing(train_plan.keys)
        self.module = SmallCNN()
        self.model = self.module
        if world.distributed:
            # DDP starts every rank from rank 0's weights and averages gradients over the ranks.
            self.model = world.together(torch.nn.parallel.DistributedDataParallel, self.module)
        self.optimizer = torch.optim.Adam(self.module.parameters(), lr=s.lr)
        self.checkpointer = Checkpointer(s, run_id, self.config)
        # Armed around every wait on the store from here on, the checkpoint read on resume first.
        self.watchdog = Watchdog(
            s.aws_endpoint_url, world.hint, self._rank_prefix(), diagnose=self.checkpointer.quorum_lost
        )

    def _loader(self, split: str, plan: SplitPlan, **options):
        s = self.settings
        return build_loader(
            s.loader,
            s,
            split,
            shard_keys=plan.shard_keys,
            shard_digests=plan.digests,
            shard_samples=plan.shards,
            keys=plan.keys or None,
            labels=plan.labels or None,
            read_ahead=s.read_ahead,
            **options,
        )

    def prepare(self, resume_from: str | None) -> Resumed:
        """Where the run starts: epoch 1, or the checkpoint at key ``resume_from`` (the run's latest,
        when resuming), read by rank 0 for all."""
        if resume_from is None:
            return Resumed(epoch=1, step=0, trained=0, reports=[])

        def load():
            with (
                self.watchdog.waiting(
                    self.world.deadlines.checkpoint_write, "reading the run's latest checkpoint"
                ),
                store_errors(self.settings, "s3"),
                connector_errors(f"reading checkpoints of run {self.run_id} failed"),
            ):
                return self.checkpointer.load(resume_from)

        start = apply(self.world.decide(load), self.module, self.optimizer, self.world.rank, self.listing)
        if start.left_out:
            # Before the loader's first pass: its workers copy the dealing when they start.
            self.train.leave_out(start.epoch, start.left_out)
        return start

    def _rank_prefix(self) -> str:
        return f"rank {self.world.rank}: " if self.world.distributed else ""

    def announce(self, start: Resumed) -> None:
        """Rank 0's first lines: what is trained from where, and where a resumed run picks up."""
        if not self.world.is_main:
            return
        s, world = self.settings, self.world
        ranks = f"{world.size} ranks x " if world.distributed else ""
        where = shards_prefix(s.data_prefix) if self.train_plan.sharded else s.data_prefix
        print(
            f"run {self.run_id}: loader {s.loader}, {ranks}{s.num_workers} workers, batch {s.batch_size}, "
            f"{s.epochs} epochs, {len(self.train_plan)} train / {len(self.test_plan)} test "
            f"{self.train_plan.noun} from s3://{s.bucket}/{where}/ at {s.aws_endpoint_url}",
            flush=True,
        )
        if s.resume and start.reshaped:
            rest = len(self.train_plan) - len(start.left_out)
            shape = f"{world.size} rank{'s' if world.size != 1 else ''} x {s.num_workers} worker" + (
                "s" if s.num_workers != 1 else ""
            )
            print(
                f"run {self.run_id}: resuming at epoch {start.epoch} on {shape} "
                f"(it was checkpointed with {start.reshaped}): {len(start.left_out)} of its "
                f"{self.train_plan.noun} already trained, the other {rest} dealt anew",
                flush=True,
            )
        elif s.resume:
            print(
                f"run {self.run_id}: resuming at epoch {start.epoch}, after {start.step} batches "
                f"({start.trained} samples) already trained in it",
                flush=True,
            )

    def run(self, start: Resumed, *, progress: bool) -> int:
        """Train every remaining epoch, then (rank 0) save the model and metrics under ``runs/``."""
        s = self.settings
        training = Training(
            model=self.model,
            module=self.module,
            optimizer=self.optimizer,
            world=self.world,
            train=self.train,
            test=self.test,
            train_plan=self.train_plan,
            test_plan=self.test_plan,
            epochs=s.epochs,
            checkpointer=self.checkpointer,
            checkpoint_every=s.checkpoint_every,
            strict=self.strict,
            progress=progress,
            failure_hint=self.world.hint,
            endpoint=f"{STORES[s.store].title} at {s.aws_endpoint_url}",
            watchdog=self.watchdog,
            listing=self.listing,
        )
        reports = fit(training, start)
        if not self.world.is_main:
            return 0
        metrics = {
            "run_id": self.run_id,
            **self.config,
            "workers": s.num_workers,
            "epochs": s.epochs,
            "checkpoints_saved": self.checkpointer.saved,
            "resumed": s.resume,
            "train_objects": len(self.train_plan),
            "test_objects": len(self.test_plan),
            "final_test_accuracy": reports[-1].test_accuracy,
            "per_epoch": [r.as_dict() for r in reports],
        }
        # Three PUTs, each given what a checkpoint PUT gets: the watchdog ends a hung one in one line.
        with (
            training.waiting(
                3 * training.deadlines.checkpoint_write, "saving the run's model, metrics and report"
            ),
            connector_errors(f"saving the run to s3://{s.bucket}/runs/{self.run_id}/ failed"),
        ):
            base = write_run_outputs(s, self.run_id, self.module, metrics)
        print(
            f"run {self.run_id}: test accuracy {reports[-1].test_accuracy:.2%} after {s.epochs} epochs; "
            f"model.pt, metrics.json and report.png at {base}",
            flush=True,
        )
        return 0
