"""Per-dataset sampling weights over many epochs, and batches dealt to ranks (plain and packed) without overlap."""

from collections import Counter

import pytest
from torch.utils.data import BatchSampler

from vlm_ocr.data.mixing import WeightedMix, dataset_weights
from vlm_ocr.data.packing import PackingBatchSampler
from vlm_ocr.data.sampler import EpochSampler, ShardedBatches

SIZES = [40, 100, 60]  # three datasets, concatenated: indices 0-39, 40-139, 140-199


def dataset_of(index):
    return 0 if index < 40 else 1 if index < 140 else 2


def test_each_epoch_has_the_weighted_multiset_and_pages_are_drawn_evenly():
    mix = WeightedMix(SIZES, [2.5, 0.3, 1.0], seed=301)
    assert mix.counts == [100, 30, 60] and len(mix) == 190
    per_page = Counter()
    epochs = 300
    for epoch in range(epochs):
        order = mix.order(epoch)
        per_dataset = Counter(dataset_of(i) for i in order)
        assert per_dataset == {0: 100, 1: 30, 2: 60}  # exact every epoch
        copies = Counter(order)
        assert {copies[i] for i in range(40)} <= {2, 3}  # up-sampled 2.5x: every page twice, half of them 3x
        assert all(copies[i] == 1 for i in range(140, 200))  # weight 1: each page once
        assert max(copies[i] for i in range(40, 140)) == 1  # down-sampled: a subset, no repeats
        per_page.update(order)
    # Over many epochs every page of a dataset is drawn at its weight (binomial spread, 5 sigma).
    for first, last, weight in ((0, 40, 2.5), (40, 140, 0.3), (140, 200, 1.0)):
        rates = [per_page[i] / epochs for i in range(first, last)]
        assert abs(sum(rates) / len(rates) - weight) < 1e-9
        assert all(abs(rate - weight) < 5 * (0.25 / epochs) ** 0.5 for rate in rates)
    assert mix.order(7) == WeightedMix(SIZES, [2.5, 0.3, 1.0], seed=301).order(7)  # from (seed, epoch) alone
    assert mix.order(7) != mix.order(8) and mix.order(7) != WeightedMix(SIZES, [2.5, 0.3, 1.0], seed=302).order(7)


def test_weights_by_name_and_bad_weights_fail_loudly():
    assert dataset_weights(["a", "b", "c"], {"b": 0.0, "c": 3}) == [1.0, 0.0, 3.0]
    with pytest.raises(ValueError, match=r"unknown datasets \['d'\]; the train roots are \['a', 'b'\]"):
        dataset_weights(["a", "b"], {"d": 2.0})
    with pytest.raises(ValueError, match="finite and >= 0"):
        WeightedMix([3, 3], [1.0, -1.0])
    with pytest.raises(ValueError, match="leave no page"):
        WeightedMix([3, 3], [0.0, 0.0])


def sharded(batches_for, world, epoch=0):
    shards = [ShardedBatches(batches_for(), rank, world) for rank in range(world)]
    for shard in shards:
        shard.set_epoch(epoch)
    return [list(shard) for shard in shards]


@pytest.mark.parametrize("world", [2, 3, 8])
def test_ranks_get_disjoint_batches_and_the_same_number_of_steps(world):
    def plain():
        return BatchSampler(EpochSampler(190, seed=1, mix=WeightedMix(SIZES, [2.5, 0.3, 1.0], 1)), 4, False)

    lengths = [100 + 13 * (i % 7) for i in range(200)]

    def packed():
        return PackingBatchSampler(EpochSampler(200, seed=1), lengths, 400)

    for batches_for in (plain, packed):
        everything = [list(b) for b in batches_for()]
        per_rank = sharded(batches_for, world)
        assert len({len(r) for r in per_rank}) == 1  # same step count on every rank (collectives stay in step)
        dealt = [b for r in per_rank for b in r]
        padding = len(dealt) - len(everything)
        assert 0 <= padding < world and dealt.count(everything[0]) == 1 + (padding > 0)
        assert {tuple(b) for b in dealt} == {tuple(b) for b in everything}  # nothing skipped, padding repeats
        for rank, batches in enumerate(per_rank):  # rank r gets batches r, r + world, ...
            assert batches[: len(everything[rank::world])] == everything[rank::world]


def test_resume_position_is_checked_against_the_plan_and_the_world_size():
    def make(world=2, seed=1):
        shard = ShardedBatches(BatchSampler(EpochSampler(50, seed=seed), 2, False), 0, world)
        shard.set_epoch(3)
        return shard

    shard = make()
    full = list(shard)
    shard.resume(3, 5, 2, shard.fingerprint())
    assert list(shard) == full[5:] and list(shard) == full[5:]  # torch's worker iterator iterates twice
    with pytest.raises(ValueError, match="with 4 data-parallel processes, this run has 2"):
        make().resume(3, 5, 4, shard.fingerprint())
    with pytest.raises(ValueError, match="plan of epoch 3 differs"):
        make(seed=2).resume(3, 5, 2, shard.fingerprint())
    finished = make()
    finished.resume(3, len(full), 2, "")  # a finished epoch moves on to the next one, from its start
    assert finished.epoch == 4 and len(list(finished)) == len(full)
    other_world = make(world=3)
    other_world.resume(3, 0, 2, "")  # at an epoch boundary any world size is fine
    assert other_world.epoch == 3


def test_the_data_module_deals_batches_itself_and_refuses_lightnings_sampler(tiny_vlm_dir, sample_data_dir):
    import lightning as L
    from training_runs import make_data

    from vlm_ocr.data.sampler import ResumableDataLoader

    data = make_data(tiny_vlm_dir, sample_data_dir, train_weights={"table": 3.0})
    data.setup("fit")
    data.trainer = L.Trainer(accelerator="cpu", devices=2, strategy="ddp", use_distributed_sampler=False, logger=False)
    loader = data.train_dataloader()
    assert isinstance(loader, ResumableDataLoader) and loader.batch_sampler.world_size == 2
    assert len(loader) == 4  # (2 document + 3 x 2 table pages) / 2 ranks
    data.trainer = L.Trainer(accelerator="cpu", devices=2, strategy="ddp", logger=False)
    with pytest.raises(ValueError, match="set trainer.use_distributed_sampler: false"):
        data.train_dataloader()
