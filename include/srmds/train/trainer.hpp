// Training loop (SPEC §5): Adam, linear warm-up then cosine decay, seeded shuffling and flips,
// validation each epoch with the best model kept, atomic checkpoints, exact resume, and a clear
// error on a non-finite loss. With ema_decay > 0 (optim/ema.hpp) validation, the best file and the
// best-epoch choice see the moving average of the weights; training continues on the live weights
// and checkpoints hold both.
//
// "The last good checkpoint" holds: before validation, the checkpoint and the best file of an
// epoch are written, every weight and BN statistic is checked to be finite; a non-finite update
// stops training with an error naming the tensor and keeps the files of the previous epoch. The
// error names the last good checkpoint only where one exists: the one this run wrote last, else the
// one it resumed from; otherwise it says that none was written.
// resume() validates the checkpoint's metadata (epoch and step integral and in range, best_dice
// finite in [-1, 1]) and its tensors (finite, BN variances and Adam second moments >= 0), and
// names the file and the key or tensor.
//
// The loss stays on the device: each step's deep-supervision loss is written into its slot of a
// per-epoch buffer of doubles on the device (no host wait inside a step); the trainer reads the
// slots not yet read with one copy every log_every steps and at the end of each epoch, and only then
// fills loss_history(), the progress report and the epoch's loss, and checks that each is finite
// (the error names the first step whose loss was not; the weights in memory may by then hold up to
// log_every - 1 further updates, the checkpoint never does: it is written after the epoch's last read).
//
// Determinism: batches depend only on (seed, epoch), and a checkpoint holds everything else that
// changes during training, so a run resumed from the checkpoint of epoch e continues exactly as the
// uninterrupted run did (same batches, same losses on the CPU backend).
//
// Batches come from a SliceDataset (data/slice_dataset.hpp), whose order and flips are drawn from
// Rng(seed, epoch).
//
// Data-parallel (TrainOptions::communicator with N > 1 ranks, dist/communicator.hpp): fit() first
// checks that every rank has the same number of training and validation slices and gives every
// rank rank 0's state (weights, BN statistics, optimizer moments, epoch, step). Batch b of the
// epoch order holds n = min(batch, size - b batch) slices; rank r serves positions
// [n r / N, n (r + 1) / N) of it (shards differ by at most one slice when N does not divide n; a
// rank whose shard is empty contributes a zero gradient), runs forward and backward on its shard
// with BatchNorm over its shard only, and the gradients are summed weighted by n_r / n
// (dist/gradient_reducer.hpp; on the CPU bucket by bucket while the backward pass runs, through the
// network's GradsFinal hook; with TrainOptions::device_communicator, NCCL on the GPUs,
// dist/nccl_communicator.hpp): the gradient of the global batch's mean loss. Every rank then takes
// the same Adam step. After each epoch the BN running statistics are averaged over the ranks and a
// checksum of the whole state is compared (an error names ranks that differ); validation is split
// over the ranks and the per-image counts gathered (dist/gather_metrics.hpp: the metrics of the
// whole set); rank 0 alone writes the checkpoint and the best file.
// With TrainOptions::sync_bn every BatchNorm of the training forward and backward uses the statistics
// of the global batch instead (ops/sync_batchnorm.hpp: per-channel sums all-reduced in both passes),
// so N ranks compute what one process with the whole batch computes, to float summation order; the
// running statistics stay identical on every rank. A rank with an empty shard then runs a stand-in
// slice that contributes nothing, so that it still makes every BN's collectives.
//
// TrainOptions::cuda_graph (CUDA device, float; opt-in, never measured on a GPU yet): the training
// step is captured once into a CUDA Graph (cuda/graph.hpp) and replayed, one graph launch per step.
// The captured step is forward_train + the deep-supervision loss into a fixed device double +
// backward + the multi-tensor Adam update, which reads lr and the bias corrections from a device
// buffer (Adam::queue_step). Before each launch the host queues the batch into the graph's fixed
// input tensors (two copies) and the step's {lr, bias corrections} (one copy); after it, one
// device-to-device copy moves the loss into the step's slot of the epoch's buffer. So a replayed step
// is 1 graph launch, 4 copies, no kernel or cuDNN call outside the graph and no host wait. Per epoch:
// the first full-size batch runs the same work eagerly (cuDNN's algorithm search, every buffer and
// Scratch slot sized, nothing allocated later), the second captures and launches, the rest replay; a
// batch of another size (the epoch's smaller last one) runs the ordinary eager step and drops the
// graph, since its buffers may then move (so does validation: the graph is captured again each
// epoch). Not captured, the whole fit runs eagerly instead: EMA (ema_decay > 0), several ranks (the
// gradient reduction, --sync-bn), a BatchStatsScope alive on the calling thread. A capture the
// backend refuses (cuda/graph.hpp says when) leaves the steps eager for the rest of the fit and is
// reported by graph_note(). On the CPU the option changes nothing (the eager step runs), so the
// CUDA test bodies run the same code on the CPU stand-in.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "srmds/data/slice_dataset.hpp"
#include "srmds/dist/batch_stats.hpp"
#include "srmds/dist/communicator.hpp"
#include "srmds/dist/gather_metrics.hpp"
#include "srmds/dist/gradient_reducer.hpp"
#include "srmds/dist/nccl_communicator.hpp"
#include "srmds/dist/state_sync.hpp"
#include "srmds/infer/evaluate.hpp"
#include "srmds/io/safetensors.hpp"
#include "srmds/io/checkpoint.hpp"
#include "srmds/io/weights.hpp"
#include "srmds/losses/deep_supervision.hpp"
#include "srmds/metrics/accumulator.hpp"
#include "srmds/nets/srmds_net.hpp"
#include "srmds/ops/transfer.hpp"
#include "srmds/optim/adam.hpp"
#include "srmds/optim/ema.hpp"
#include "srmds/optim/schedule.hpp"
#if SRMDS_WITH_CUDA
#include "srmds/cuda/graph.hpp"
#endif

namespace srmds {

// Every option of a training run, each defined once: the optimizer's in AdamOptions (its lr is the
// schedule's peak), the loss's in DeepSupervisionOptions; the network's (align_corners included)
// come from the network's NetConfig.
struct TrainOptions {
  int epochs = 300;
  int batch = 8;
  AdamOptions optimizer;        // lr: peak learning rate of the warm-up + cosine schedule
  double warmup_epochs = 2;
  DeepSupervisionOptions loss;
  std::string checkpoint_path;  // written atomically after every epoch ("" = none)
  std::string best_path;        // weights of the best validation epoch ("" = none)
  int log_every = 10;           // progress callback every this many steps and at each epoch end (0: epoch end only)
  int stop_after_epochs = -1;   // stop early after this many epochs of this run (tests; -1 = no)
  double ema_decay = 0;         // > 0: validate and save the moving average of the weights (optim/ema.hpp)
  // Added to every checkpoint's metadata (srmds train: "run", its run record, train/run_record.hpp).
  std::map<std::string, std::string> checkpoint_metadata;
  // The ranks of a data-parallel run (not owned; must outlive the trainer). Null: one process.
  dist::Communicator* communicator = nullptr;
  // With several ranks: BatchNorm over the global batch (synchronised) instead of each rank's shard.
  // No effect in one process.
  bool sync_bn = false;
  // With several ranks on the CPU: gradient buckets all-reduced while the backward pass goes on
  // (dist/gradient_reducer.hpp); false: after it. The same results either way.
  bool overlap_reduce = true;
  int64_t bucket_values = 0;  // values per gradient bucket (0: dist::GradientReducer's default)
  // The gradients of a CUDA run reduced on the GPUs with NCCL (not owned; the same ranks as
  // `communicator`, which keeps the host collectives), any number of ranks; null: through host memory.
  dist::NcclCommunicator* device_communicator = nullptr;
  // Capture the training step in a CUDA Graph and replay it (see the top of this file): CUDA, float,
  // one process without EMA; otherwise (and always on the CPU) the eager step runs.
  bool cuda_graph = false;
};

struct TrainProgress {
  int epoch = 0;  // 0-based
  int epochs = 0;
  int64_t step = 0;  // optimizer steps done
  int64_t total_steps = 0;
  double loss = 0;  // mean loss since the last report
  double lr = 0;
  double images_per_s = 0;
  double eta_s = 0;
};

struct EpochReport {
  int epoch = 0;
  double train_loss = 0;  // mean over the epoch's batches
  bool validated = false;
  MetricValues val_micro, val_per_image;
  int64_t val_images = 0;  // slices validated (with several ranks: over every rank)
  bool best = false;
  double seconds = 0;
};

template <class T, class D>
class Trainer {
public:
  using Net = SrmdsNet<T, D>;

  Trainer(Context<D>& ctx, Net& net, const TrainOptions& options)
      : m_ctx(ctx),
        m_net(net),
        m_options(options),
        m_loss(net.config(), options.loss),
        m_adam(ctx, net.state(), options.optimizer) {
    if (!options.communicator) m_own_comm = dist::make_single_process_communicator();
    m_comm = options.communicator ? options.communicator : m_own_comm.get();
    m_dist = m_comm->world_size() > 1;
    if (options.device_communicator) {
      m_nccl = options.device_communicator;
      SRMDS_CHECK((!is_cpu_v<D> && std::is_same_v<T, float>),
                  "Trainer: the NCCL communicator reduces float gradients on CUDA devices; train with --device cuda");
      SRMDS_CHECK(m_nccl->rank() == m_comm->rank() && m_nccl->world_size() == m_comm->world_size(),
                  "Trainer: the NCCL communicator's ranks (" << m_nccl->rank() << " of " << m_nccl->world_size()
                                                             << ") are not the run's (" << m_comm->rank() << " of "
                                                             << m_comm->world_size() << ")");
      if constexpr (std::is_same_v<T, float>)
        for (const auto& e : m_adam.parameters()) {
          SRMDS_CHECK(e.grad->is_contiguous(), "Trainer: the gradient of " << e.name << " is a strided view");
          m_nccl_grads.emplace_back(e.grad->data(), e.grad->numel());
        }
    }
    if (m_dist && !m_nccl)
      m_reducer = std::make_unique<dist::GradientReducer<T, D>>(
          *m_comm, m_adam.parameters(),
          options.bucket_values > 0 ? options.bucket_values : dist::GradientReducer<T, D>::kDefaultBucketValues,
          options.overlap_reduce && is_cpu_v<D> && std::is_same_v<T, float>);
    if (m_reducer && m_reducer->overlapped())
      m_grads_final = [this](const StateList<T, D>& list) { m_reducer->grads_final(m_ctx, list); };
    if (m_dist && options.sync_bn) m_bn_sync = std::make_unique<dist::CommunicatorBatchStats>(*m_comm);
    SRMDS_CHECK(std::isfinite(options.ema_decay) && options.ema_decay >= 0 && options.ema_decay < 1,
                "Trainer: EMA decay " << options.ema_decay << " must be in [0, 1)");
    if (options.ema_decay > 0) m_ema = std::make_unique<WeightAverage<T, D>>(ctx, net.state(), options.ema_decay);
    SRMDS_CHECK(net.form() == NetForm::Train, "Trainer: the network is in fused form; train the training form");
    SRMDS_CHECK(options.epochs > 0 && options.batch > 0, "Trainer: epochs " << options.epochs << " and batch "
                                                                             << options.batch << " must be positive");
    SRMDS_CHECK(std::isfinite(options.optimizer.lr) && options.optimizer.lr > 0,
                "Trainer: learning rate " << options.optimizer.lr << " must be > 0");
    SRMDS_CHECK(options.log_every >= 0, "Trainer: log_every " << options.log_every << " must be >= 0");
    SRMDS_CHECK(std::isfinite(options.warmup_epochs) && options.warmup_epochs >= 0 &&
                    options.warmup_epochs <= kMaxEpochs,
                "Trainer: warm-up epochs " << options.warmup_epochs << " must be in [0, " << kMaxEpochs << "]");
    SRMDS_CHECK(options.epochs <= kMaxEpochs, "Trainer: epochs " << options.epochs << " must be at most " << kMaxEpochs);
    for (const char* key : {"epoch", "step", "best_dice"})
      SRMDS_CHECK(options.checkpoint_metadata.count(key) == 0,
                  "Trainer: checkpoint metadata may not set the reserved key '" << key << "'");
  }

  std::function<void(const TrainProgress&)> on_progress;
  std::function<void(const EpochReport&)> on_epoch;

  // Restores weights, BN statistics, optimizer moments, step and epoch from a checkpoint written by
  // this trainer. The network's config must match the checkpoint's.
  void resume(const std::string& path) { resume(io::read_safetensors(path), path); }
  // The same from a file already read (`path` names it in errors). Everything is checked before
  // anything is copied: metadata, then every tensor's name, shape and values.
  void resume(const io::SafetensorsFile& file, const std::string& path) {
    // Metadata first (cheap, io/checkpoint.hpp), then every tensor.
    const io::CheckpointInfo info = io::read_checkpoint_info(file, path);
    SRMDS_CHECK(config_to_json(info.config) == config_to_json(m_net.config()),
                "resume: the config stored in " << path << " differs from the network's");
    StateList<T, D> all = m_net.state();
    for (auto& e : optimizer_state()) all.push_back(e);
    io::load_state(m_ctx, file, all, path);
    m_epoch = info.epoch;
    m_adam.set_step_count(info.step);
    m_best_dice = info.best_dice;
    m_last_checkpoint = path;
  }

  // Trains from the current epoch to options.epochs; `train` serves the batches (its sampling
  // decides shuffling and flips, drawn per epoch), `val` (may be null or empty) is evaluated after
  // every epoch. Returns one report per epoch run.
  std::vector<EpochReport> fit(SliceDataset& train, const SliceDataset* val) {
    SRMDS_CHECK(train.size() > 0, "Trainer::fit: the training set is empty");
    const int64_t steps_per_epoch = train.num_batches(m_options.batch);
    const int64_t total_steps = steps_per_epoch * m_options.epochs;
    const int64_t warmup = static_cast<int64_t>(std::llround(m_options.warmup_epochs * steps_per_epoch));
    const WarmupCosineSchedule schedule(m_options.optimizer.lr, std::min(warmup, total_steps), total_steps);

    if (m_dist) start_ranks(train, val);

    std::vector<EpochReport> reports;
    int epochs_this_run = 0;
    const auto run_start = std::chrono::steady_clock::now();
    int64_t images_this_run = 0;
    for (; m_epoch < m_options.epochs; ++m_epoch) {
      if (m_options.stop_after_epochs >= 0 && epochs_this_run >= m_options.stop_after_epochs) break;
      const auto epoch_start = std::chrono::steady_clock::now();
      train.set_epoch(static_cast<uint64_t>(m_epoch));

      double epoch_loss = 0, window_loss = 0;
      int window_steps = 0;
      auto window_start = std::chrono::steady_clock::now();
      int64_t window_images = 0;
      start_epoch_losses(steps_per_epoch);
      drop_step_graph();  // validation and the last batch may have moved the buffers it captured
      for (int64_t b = 0; b < steps_per_epoch; ++b) {
        const int64_t first = b * m_options.batch;
        const int64_t count = std::min<int64_t>(m_options.batch, train.size() - first);  // the global batch
        const int64_t begin = count * m_comm->rank() / m_comm->world_size();                  // this rank's shard
        const int64_t end = count * (m_comm->rank() + 1) / m_comm->world_size();
        const double lr = schedule.lr(m_adam.step_count());
        train_step(train, first + begin, end - begin, count, lr, b);  // the loss stays on the device
        window_images += count;
        images_this_run += count;
        m_lr_history.push_back(lr);
        const bool last = b + 1 == steps_per_epoch;
        const bool log_step = m_options.log_every > 0 && m_adam.step_count() % m_options.log_every == 0;
        if (!(log_step || last)) continue;
        // The losses since the last read: one copy (one host wait), then checked and summed in step order.
        for (const double loss : read_step_losses(b + 1)) {
          epoch_loss += loss;
          window_loss += loss;
          ++window_steps;
        }
        if (on_progress) {
          const auto now = std::chrono::steady_clock::now();
          const double secs = std::chrono::duration<double>(now - window_start).count();
          const double run_secs = std::chrono::duration<double>(now - run_start).count();
          TrainProgress p;
          p.epoch = m_epoch;
          p.epochs = m_options.epochs;
          p.step = m_adam.step_count();
          p.total_steps = total_steps;
          p.loss = window_loss / window_steps;
          p.lr = lr;
          p.images_per_s = secs > 0 ? window_images / secs : 0;
          const double run_rate = run_secs > 0 ? images_this_run / run_secs : 0;
          p.eta_s = run_rate > 0 ? static_cast<double>(total_steps - p.step) * m_options.batch / run_rate : 0;
          on_progress(p);
          window_loss = 0;
          window_steps = 0;
          window_images = 0;
          window_start = now;
        }
      }

      if (m_dist) end_epoch_ranks();
      check_finite_weights();  // before anything is validated or saved from these weights
      if (m_ema) m_ema->swap(m_ctx);  // validation and the best file see the average
      EpochReport report;
      report.epoch = m_epoch;
      report.train_loss = epoch_loss / static_cast<double>(steps_per_epoch);
      if (val && val->size() > 0) {
        const MetricsAccumulator acc = validate(*val);
        report.validated = true;
        report.val_micro = acc.micro();
        report.val_per_image = acc.per_image_mean();
        report.val_images = acc.images();
        if (report.val_micro.dice > m_best_dice) {
          m_best_dice = report.val_micro.dice;
          report.best = true;
          save_best();
        }
      } else {
        save_best();  // no validation set: keep the latest
      }
      if (m_ema) m_ema->swap(m_ctx);
      report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - epoch_start).count();
      if (!m_options.checkpoint_path.empty()) {
        if (m_comm->rank() == 0) save_checkpoint(m_options.checkpoint_path, m_epoch + 1);
        m_last_checkpoint = m_options.checkpoint_path;
      }
      reports.push_back(report);
      if (on_epoch) on_epoch(report);
      ++epochs_this_run;
    }
    return reports;
  }

  // Writes weights, BN statistics, optimizer moments, the step and the next epoch, atomically.
  void save_checkpoint(const std::string& path, int next_epoch) {
    std::map<std::string, std::string> meta = m_options.checkpoint_metadata;
    meta["epoch"] = std::to_string(next_epoch);
    meta["step"] = std::to_string(m_adam.step_count());
    meta["best_dice"] = format_double(m_best_dice);
    io::save_weights(m_ctx, path, m_net, optimizer_state(), meta);
  }

  int epoch() const { return m_epoch; }
  // Wall time this process spent reducing gradients over the ranks (0 in one process), and the part of
  // it after the backward passes (the rest overlapped them; dist/gradient_reducer.hpp).
  double communication_seconds() const {
    return m_reducer ? m_reducer->seconds() : m_nccl ? m_nccl->seconds() : 0.0;  // NCCL: queuing only
  }
  double exposed_communication_seconds() const { return m_reducer ? m_reducer->exposed_seconds() : 0.0; }
  // The share of the gradient values whose all-reduce had finished when the backward pass ended.
  double communication_completed_in_backward() const { return m_reducer ? m_reducer->completed_in_pass() : 0.0; }
  int64_t step() const { return m_adam.step_count(); }
  // Whether options.cuda_graph takes effect here (CUDA, float, one process, no EMA), the steps
  // replayed from a graph and the captures so far, and why a capture was refused ("" if none was).
  bool graph_enabled() const { return use_step_graph(); }
  int64_t graph_replays() const { return m_graph_replays; }
  int graph_captures() const { return m_graph_captures; }
  const std::string& graph_note() const { return m_graph_note; }
  double best_dice() const { return m_best_dice; }
  // Whether this trainer wrote options.best_path (a run whose epochs all fall short of the resumed
  // checkpoint's best validation Dice writes none).
  bool best_written() const { return m_best_written; }
  const std::vector<double>& loss_history() const { return m_loss_history; }
  const std::vector<double>& lr_history() const { return m_lr_history; }  // the lr of each step of this run
  // What a checkpoint holds besides the network: the optimizer's moments ("optimizer.m.<name>",
  // "optimizer.v.<name>") and, with EMA, the averages ("ema.<name>").
  StateList<T, D> optimizer_state() {
    StateList<T, D> out = m_adam.state();
    if (m_ema)
      for (auto& e : m_ema->state()) out.push_back(e);
    return out;
  }

private:
  // One step on positions [first, first + count) of the epoch order, this rank's shard of a global
  // batch of `global` slices (one process: the whole batch). The shard's loss is left on the device
  // in slot `slot` of the epoch's loss buffer (read_step_losses reads it, weighted by the shard).
  void train_step(const SliceDataset& data, int64_t first, int64_t count, int64_t global, double lr, int64_t slot) {
    m_step_share[static_cast<size_t>(slot)] = count > 0 ? static_cast<double>(count) / static_cast<double>(global) : 0.0;
    if (use_step_graph()) {
      if (count == m_options.batch) {
        graph_step(data, first, count, lr, slot);
        return;
      }
      drop_step_graph();  // another shape: the eager step below may move what the graph captured
    }
    const bool stand_in = count == 0 && m_bn_sync;  // an empty shard makes the BN collectives all the same
    const bool overlap = m_reducer && m_reducer->overlapped();
    if (overlap) m_reducer->begin(static_cast<double>(count) / static_cast<double>(global));
    if (count > 0 || stand_in) {
      if (m_bn_sync) m_bn_sync->weight = static_cast<double>(count) / static_cast<double>(global);
      const BatchStatsScope bn_scope(m_bn_sync.get());  // null: BatchNorm over this rank's shard
      const SliceBatch batch = data.serve(first, stand_in ? 1 : count);
      const Tensor<T, D> x = device_view_as<T>(m_ctx, batch.images);  // on the CPU: the batch itself
      const Tensor<T, D> y = device_view_as<T>(m_ctx, batch.masks);
      const auto& logits = m_net.forward_train(m_ctx, x);
      Tensor<double, D> loss = m_step_losses.samples(slot, 1);
      m_loss.forward_backward_to(m_ctx, logits, y, m_dlogits, loss);
      m_net.backward(m_ctx, m_dlogits, WriteMode::Overwrite, nullptr, overlap ? &m_grads_final : nullptr);
      if (stand_in) zero_grad(m_ctx, m_adam.parameters());  // its gradient has no meaning
    } else {
      zero_grad(m_ctx, m_adam.parameters());  // an empty shard adds nothing to the sum
    }
    if (m_nccl) {  // on the GPUs, ordered after the backward pass by an event (no host wait)
      if constexpr (!is_cpu_v<D>)
        m_nccl->reduce_gradients(m_ctx.stream(), m_nccl_grads, static_cast<double>(count) / static_cast<double>(global));
    } else if (m_dist) {  // every rank gets the global batch's gradient and loss (weights n_r / n)
      const double share = static_cast<double>(count) / static_cast<double>(global);
      if (overlap)
        m_reducer->finish(m_ctx);
      else
        m_reducer->reduce(m_ctx, share);
    }
    m_adam.step(m_ctx, lr);
    if (m_ema) m_ema->update(m_ctx, m_adam.step_count());
  }

  // TrainOptions::cuda_graph in effect: CUDA, float, one process, no EMA, no BatchStatsScope.
  bool use_step_graph() const {
    return m_options.cuda_graph && !is_cpu_v<D> && std::is_same_v<T, float> && !m_dist && !m_ema &&
           batch_stats_reducer() == nullptr;
  }

  // The captured step's work: forward, loss into the fixed slot, backward, Adam reading its scalars
  // from the device. Run once eagerly (the warm-up), then captured.
  void step_graph_work() {
    const auto& logits = m_net.forward_train(m_ctx, m_graph_x);
    m_loss.forward_backward_to(m_ctx, logits, m_graph_y, m_dlogits, m_graph_loss);
    m_net.backward(m_ctx, m_dlogits, WriteMode::Overwrite, nullptr, nullptr);
    m_adam.queue_step(m_ctx, m_graph_scalars);
  }

  // One step of a full batch through the graph (see the top of this file). The same values as the
  // eager step: the same kernels on the same data, only their per-step inputs come from memory.
  void graph_step(const SliceDataset& data, int64_t first, int64_t count, double lr, int64_t slot) {
    const SliceBatch batch = data.serve(first, count);
    if (m_graph_x.shape() != batch.images.shape() || m_graph_y.shape() != batch.masks.shape()) {
      drop_step_graph();
      m_graph_x = Tensor<T, D>(batch.images.shape(), m_ctx);
      m_graph_y = Tensor<T, D>(batch.masks.shape(), m_ctx);
    }
    if (m_graph_loss.empty()) {
      m_graph_loss = Tensor<double, D>(Shape{1, 1, 1, 1}, m_ctx);
      m_graph_scalars = Tensor<double, D>(Shape{kAdamDeviceScalars, 1, 1, 1}, m_ctx);
    }
    if constexpr (!is_cpu_v<D> && std::is_same_v<T, float>) {
      copy_to_device(m_ctx, batch.images, m_graph_x);  // into the graph's fixed inputs
      copy_to_device(m_ctx, batch.masks, m_graph_y);
      const AdamStep s = m_adam.next_step(lr);
      Tensor<double, Cpu> scalars(Shape{kAdamDeviceScalars, 1, 1, 1});
      scalars[0] = s.lr;
      scalars[1] = s.bias_correction1;
      scalars[2] = s.bias_correction2;
      copy_to_device(m_ctx, scalars, m_graph_scalars);  // staged before it returns: no host wait
#if SRMDS_WITH_CUDA
      if (!m_graph_warm || !m_graph_note.empty()) {
        step_graph_work();  // the warm-up (or this shape's captures were refused)
        m_graph_warm = true;
      } else {
        if (!m_graph.valid_for(m_ctx)) {
          try {
            m_graph.capture(m_ctx, [this] { step_graph_work(); });
            ++m_graph_captures;
          } catch (const Error& e) {
            m_graph_note = e.what();  // nothing ran: this step and the epoch's others run eagerly
          }
        }
        if (m_graph_note.empty()) {
          m_graph.launch(m_ctx);
          ++m_graph_replays;
        } else {
          step_graph_work();
        }
      }
#endif
      m_adam.advance();
      Tensor<double, D> slot_loss = m_step_losses.samples(slot, 1);
      copy(m_ctx, m_graph_loss, slot_loss);  // device to device
    }
  }

  // Forgets the captured step (and the warm-up it needs); the next full batch warms up again.
  void drop_step_graph() {
#if SRMDS_WITH_CUDA
    if constexpr (!is_cpu_v<D>) m_graph.reset();
#endif
    m_graph_warm = false;
  }

  // The epoch's per-step loss buffer on the device, (steps, 1, 1, 1) doubles, read from slot 0 on.
  void start_epoch_losses(int64_t steps) {
    if (m_step_losses.shape() != Shape{steps, 1, 1, 1}) m_step_losses = Tensor<double, D>(Shape{steps, 1, 1, 1}, m_ctx);
    m_step_share.assign(static_cast<size_t>(steps), 0.0);
    m_first_unread = 0;
    m_epoch_first_step = m_adam.step_count();
  }

  // The losses of the epoch's steps [m_first_unread, end): one copy from the device (one host wait);
  // with several ranks each rank's shard loss weighted n_r / n and summed over the ranks (one
  // all-reduce of the whole range). Each must be finite: the error names the first step that was not
  // (the step count before it, as counted when it ran) and the checkpoint that keeps the last good
  // state; the weights in memory then hold the updates of the steps up to this read. The losses are
  // appended to loss_history() and returned.
  std::vector<double> read_step_losses(int64_t end) {
    const int64_t first = m_first_unread;
    const Tensor<double, Cpu> host = to_host(m_ctx, m_step_losses.samples(first, end - first));
    std::vector<double> losses(host.data(), host.data() + host.numel());
    if (m_dist) {
      for (size_t i = 0; i < losses.size(); ++i) {
        const double share = m_step_share[static_cast<size_t>(first) + i];
        losses[i] = share > 0 ? losses[i] * share : 0.0;  // an empty shard left its slot unwritten
      }
      m_comm->all_reduce(losses.data(), static_cast<int64_t>(losses.size()), dist::ReduceOp::Sum);
    }
    for (size_t i = 0; i < losses.size(); ++i)
      if (!std::isfinite(losses[i]))
        SRMDS_THROW("training stopped: non-finite loss " << losses[i] << " at step "
                                                         << m_epoch_first_step + first + static_cast<int64_t>(i)
                                                         << " (epoch " << m_epoch + 1 << ")" << kept_checkpoint());
    m_first_unread = end;
    m_loss_history.insert(m_loss_history.end(), losses.begin(), losses.end());
    return losses;
  }

  // The start of a data-parallel fit: the same data on every rank, then rank 0's state everywhere.
  void start_ranks(const SliceDataset& train, const SliceDataset* val) {
    const int64_t sizes[2] = {train.size(), val ? val->size() : 0};
    dist::require_same_on_every_rank(*m_comm, static_cast<uint64_t>(sizes[0]) * 0x9E3779B97F4A7C15ull ^
                                                  static_cast<uint64_t>(sizes[1]),
                                     "the numbers of training and validation slices (" +
                                         std::to_string(sizes[0]) + " and " + std::to_string(sizes[1]) +
                                         " on rank " + std::to_string(m_comm->rank()) + ")");
    StateList<T, D> all = m_net.state();
    for (auto& e : optimizer_state()) all.push_back(e);
    dist::broadcast_state(m_ctx, *m_comm, all, 0);
    int64_t counters[2] = {m_epoch, m_adam.step_count()};
    m_comm->broadcast(counters, sizeof counters, 0);
    m_comm->broadcast(&m_best_dice, sizeof m_best_dice, 0);
    m_epoch = static_cast<int>(counters[0]);
    m_adam.set_step_count(counters[1]);
  }

  // The end of a data-parallel epoch: BN running statistics (and their moving averages) averaged over
  // the ranks, then every rank's whole state checked against rank 0's.
  void end_epoch_ranks() {
    StateList<T, D> all = m_net.state(), buffers;
    for (auto& e : optimizer_state()) all.push_back(e);
    std::vector<std::string> names;
    for (const auto& e : m_net.state())
      if (!e.is_parameter()) names.push_back(e.name);
    for (const auto& e : all)
      for (const std::string& n : names)
        if (e.name == n || e.name == "ema." + n) buffers.push_back(e);
    dist::average_state(m_ctx, *m_comm, buffers);
    dist::require_same_on_every_rank(*m_comm, dist::state_checksum(m_ctx, all),
                                     "the weights, BN statistics or optimizer moments after epoch " +
                                         std::to_string(m_epoch + 1) + " (the ranks no longer train one model)");
  }

  // Validation metrics of the whole set: each rank evaluates a contiguous shard, the counts are gathered.
  MetricsAccumulator validate(const SliceDataset& val) {
    if (!m_dist) return evaluate(m_ctx, m_net, val, m_options.batch);
    const int64_t n = val.size(), r = m_comm->rank(), N = m_comm->world_size();
    std::vector<int64_t> shard;
    for (int64_t i = n * r / N; i < n * (r + 1) / N; ++i) shard.push_back(i);
    MetricsAccumulator local;
    if (!shard.empty()) local = evaluate(m_ctx, m_net, val.subset(shard, SliceSampling{}), m_options.batch);
    return dist::gather_metrics(*m_comm, local);
  }

  void save_best() {
    if (m_options.best_path.empty() || m_comm->rank() != 0) return;
    io::save_weights(m_ctx, m_options.best_path, m_net);
    m_best_written = true;
  }

  // The end of a training-stopped error: the checkpoint that holds the last good state, if any.
  std::string kept_checkpoint() const {
    return m_last_checkpoint.empty() ? "; no checkpoint was written before it"
                                     : "; the last good checkpoint is kept in " + m_last_checkpoint;
  }

  static constexpr int kMaxEpochs = io::kMaxCheckpointEpochs;

  // Throws naming the tensor if a weight or BN statistic of the network is not finite.
  void check_finite_weights() {
    for (const NamedTensor<T, D>& nt : m_net.state()) {
      const Tensor<T, Cpu> h = to_host(m_ctx, *nt.value);
      for (int64_t i = 0; i < h.numel(); ++i)
        if (!std::isfinite(static_cast<double>(h[i])))
          SRMDS_THROW("training stopped: the update at step " << m_adam.step_count() << " (epoch " << m_epoch + 1
                                                              << ") made tensor '" << nt.name << "' non-finite ("
                                                              << static_cast<double>(h[i])
                                                              << "); nothing of this epoch was saved" << kept_checkpoint());
    }
  }

  static std::string format_double(double v) {
    if (!std::isfinite(v)) return "-1";
    std::ostringstream os;
    os.precision(17);
    os << v;
    return os.str();
  }

  Context<D>& m_ctx;
  Net& m_net;
  TrainOptions m_options;
  DeepSupervisionLoss<T, D> m_loss;
  Adam<T, D> m_adam;
  std::unique_ptr<WeightAverage<T, D>> m_ema;  // null without EMA
  std::unique_ptr<dist::Communicator> m_own_comm;  // one process, when options.communicator is null
  dist::Communicator* m_comm = nullptr;
  bool m_dist = false;  // more than one rank
  std::unique_ptr<dist::GradientReducer<T, D>> m_reducer;  // null in one process
  std::unique_ptr<dist::CommunicatorBatchStats> m_bn_sync;  // synchronised BatchNorm (sync_bn, several ranks)
  typename Net::GradsFinal m_grads_final;  // the backward pass's hook into the overlapped reducer
  dist::NcclCommunicator* m_nccl = nullptr;  // TrainOptions::device_communicator
  std::vector<std::pair<float*, int64_t>> m_nccl_grads;  // its view of the parameter gradients
  typename DeepSupervisionLoss<T, D>::Logits m_dlogits;
  int m_epoch = 0;
  double m_best_dice = -1;
  bool m_best_written = false;
  std::string m_last_checkpoint;  // written by this run last, or resumed from; "" = none
  std::vector<double> m_loss_history, m_lr_history;
  Tensor<double, D> m_step_losses;   // (steps per epoch, 1, 1, 1): each step's loss, on the device
  std::vector<double> m_step_share;  // each step's n_r / n (0: an empty shard)
  int64_t m_first_unread = 0;        // the first slot not yet read
  int64_t m_epoch_first_step = 0;    // the step count when the epoch began
  // TrainOptions::cuda_graph: the captured step's fixed tensors (the batch (n, 1, H, W) copied in,
  // its loss (1, 1, 1, 1), Adam's {lr, bias corrections}) and the graph.
  Tensor<T, D> m_graph_x, m_graph_y;
  Tensor<double, D> m_graph_loss, m_graph_scalars;
  bool m_graph_warm = false;  // the graph's work ran eagerly once since the last drop
  int64_t m_graph_replays = 0;
  int m_graph_captures = 0;
  std::string m_graph_note;  // why a capture was refused ("" if none was)
#if SRMDS_WITH_CUDA
  std::conditional_t<is_cpu_v<D>, int, cuda::StreamGraph> m_graph{};
#endif
};

}  // namespace srmds
