// srmds train --images A[,B..] --masks MA[,MB..] --out ckpt.safetensors [options]: trains the
// training form (SPEC §5) with a validation split by volume. Images are NIfTI volumes, DICOM
// series (folders) or PNG/JPEG slices; a folder of slices pairs by file stem with a mask folder. After every epoch the checkpoint
// --out (weights, BN statistics, optimizer moments, step, epoch) is written atomically, and the
// best validation epoch's weights go to <out stem>.best.safetensors. --resume continues a run
// exactly; its network configuration is the checkpoint's, changed only by options given here
// (which must then match, or the resume is refused).
//
// What --resume holds fixed (issue 21 item 10): every checkpoint stores the run record (metadata
// "run", train/run_record.hpp): each option that shapes the run's course (run_options below) and
// the identity of its training and validation slices (a content hash of each split, so a moved or
// copied data set resumes while a changed slice, split or order is caught). A change of any of
// them, or of a network option, is refused with exit 2 naming each one with the stored and the
// given value. Free to change: --epochs (to extend or end a run; the cosine schedule then spans
// the new length), --device, --log-every, --out, and the paths of --images/--masks while they
// give the same slices. A checkpoint written before run records existed resumes with a warning.
// Every path printed at the end names a file that exists: a resumed run already at --epochs
// trains nothing and writes nothing (with --out elsewhere that is refused, exit 2), and the best
// file is named only when it holds this run's best weights.
//
// Data-parallel (issue 23): under mpirun or srun every process is a rank of one run
// (dist/communicator.hpp, Trainer's data-parallel notes): --batch is the global batch, split over
// the ranks; every rank reads the same data (checked: a hash of the training and of the validation
// slices is compared, and a rank whose slices differ from rank 0's stops the job); rank 0 alone
// prints and writes files. An error on any rank prints `srmds: error: rank R of N: ...` and ends
// every rank (MPI_Abort, exit status 1, or 2 for usage errors), so no rank waits for a dead one.
// With --device cuda the rank of local rank L uses GPU L (GPU 0 where CUDA_VISIBLE_DEVICES names a
// single GPU). A checkpoint records the number of ranks ("ranks"); a resume with another number is
// accepted (the checkpoint holds one state for every rank) with a note that per-rank BatchNorm
// batches change, so the run does not continue exactly as it would have (with --sync-bn they do
// not: BatchNorm sees the global batch, whatever the number of ranks, and no note is printed).
// --sync-bn: BatchNorm over the global batch (ops/sync_batchnorm.hpp); no effect with one rank.
// --cuda-graph (--device cuda only; free on a resume: the same values): each full batch's step is
// replayed from a CUDA Graph (train/trainer.hpp); with EMA or several ranks the step stays eager and
// a line says so. Off by default: never measured on a GPU.
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <new>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "cli_util.hpp"
#include "commands.hpp"
#include "shared_options.hpp"
#include "srmds/infer/output_plan.hpp"
#include "srmds/io/atomic_file.hpp"
#include "usage_error.hpp"
#include "validators.hpp"
#include "report.hpp"
#include "size_arg.hpp"
#include "srmds/dist/communicator.hpp"
#include "srmds/dist/nccl_communicator.hpp"
#include "srmds/dist/state_sync.hpp"
#include "srmds/io/weights.hpp"
#include "srmds/nets/memory_probe.hpp"
#include "srmds/nets/model_stats.hpp"
#include "srmds/train/run_record.hpp"
#include "srmds/train/train_data.hpp"
#include "srmds/train/trainer.hpp"

namespace srmds::cli {

namespace {

// The training options are bound straight into a TrainOptions (their defaults are its defaults);
// the network options are parsed into a NetConfig by make_config.
struct TrainCliOptions {
  std::vector<std::string> images, masks;
  std::string out, resume, device = "cpu";
  TrainOptions train;
  int base = 64;
  double val_fraction = 0.2;
  uint64_t seed = 0;
  bool no_flip = false, png16_hu = false;
  bool no_nccl = false;  // --no-nccl: CUDA gradients through host memory and MPI
  std::string series;
  std::string size = "512", ds = "native", target = "avg", branches = "3x3,1x3,3x1,1x1,id", bn = "inner",
              attention = "se", window = "-1250,250", labels = "1,2", augment = "none";
};

// "<dir>/ckpt.safetensors" -> "<dir>/ckpt.best.safetensors".
std::string best_path_for(const std::string& out) {
  const std::string ext = ".safetensors";
  if (out.size() > ext.size() && out.compare(out.size() - ext.size(), ext.size(), ext) == 0)
    return out.substr(0, out.size() - ext.size()) + ".best" + ext;
  return out + ".best.safetensors";
}

// The network config: `stored` (the resumed checkpoint's; null for a new run) changed by the
// options given.
NetConfig make_config(const TrainCliOptions& o, const CLI::App& sub, const NetConfig* stored) {
  NetConfig cfg;
  if (stored) cfg = *stored;
  const bool resuming = stored != nullptr;
  auto given = [&](const char* name) { return !resuming || sub.count(name) > 0; };
  if (given("--base")) {
    if (o.base < 1 || o.base > kMaxBase) SRMDS_USAGE("train: --base must be in [1, " << kMaxBase << "], got " << o.base);
    cfg.base = o.base;
  }
  if (given("--size")) cfg.input_size = parse_size(o.size, "--size");
  if (given("--branches")) cfg.branches = split_list(o.branches);
  if (given("--bn")) cfg.bn = o.bn == "external" ? BnPlacement::External : BnPlacement::Inner;
  if (given("--window")) cfg.window = parse_window(o.window);
  if (given("--labels")) cfg.lesion_labels = parse_labels(o.labels);
  try {
    if (given("--attention")) cfg.attention = parse_attention(o.attention);
    validate_config(cfg);  // the branch names and the rest
  } catch (const UsageError&) {
    throw;
  } catch (const Error& e) {
    if (resuming) throw;
    SRMDS_USAGE("train: " << e.what());
  }
  return cfg;
}

// The --ds and --target strings as the loss's options.
void set_loss_options(const TrainCliOptions& o, DeepSupervisionOptions& l) {
  l.ds = o.ds == "off" ? DsMode::Off : o.ds == "upsample" ? DsMode::Upsample : DsMode::Native;
  l.target = o.target == "nearest" ? TargetMode::Nearest : o.target == "max" ? TargetMode::Max : TargetMode::Average;
}

// The options that shape the course of a run, as the run record stores them: --resume refuses a
// change of any. (--epochs, --device, --log-every and --out are free; the network options are
// compared through the stored config.)
RunRecord run_options(const TrainCliOptions& o, const Augmentation& augment) {
  const TrainOptions& t = o.train;
  const auto yes = [](bool b) { return std::string(b ? "yes" : "no"); };
  return {{"--seed", std::to_string(o.seed)},
          {"--val-fraction", shortest_double(o.val_fraction)},
          {"--batch", std::to_string(t.batch)},
          {"--lr", shortest_double(t.optimizer.lr)},
          {"--warmup-epochs", shortest_double(t.warmup_epochs)},
          {"--weight-decay", shortest_double(t.optimizer.weight_decay)},
          {"--decoupled", yes(t.optimizer.decoupled)},
          {"--no-flip", yes(o.no_flip)},
          {"--ds", o.ds},
          {"--target", o.target},
          {"--dice-weight", shortest_double(t.loss.dice_weight)},
          {"--augment", augmentation_to_string(augment)},
          {"--ema", shortest_double(t.ema_decay)},
          {"--sync-bn", yes(t.sync_bn)},
          {"--series", o.series},
          {"--png16-hu", yes(o.png16_hu)}};
}

// The identity of the run's slices, as the run record stores it.
RunRecord run_data(const TrainData& data) {
  return {{"training slices", slices_identity(data.train)}, {"validation slices", slices_identity(data.val)}};
}

// Refuses (exit 2) a resume whose options or data differ from the run's, naming each change.
void refuse_changes(const std::vector<RunChange>& changes, const std::string& resume) {
  if (changes.empty()) return;
  static const std::map<std::string, std::string> names{
      {"base", "--base"},       {"input_size", "--size"},  {"branches", "--branches"},
      {"bn", "--bn"},           {"attention", "--attention"}, {"window", "--window"},
      {"lesion_labels", "--labels"},
      {"training slices", "the training slices (--images, --masks and how they are read)"},
      {"validation slices", "the validation slices (--images, --masks and how they are read)"}};
  const auto show = [](const std::string& v) { return v.empty() ? std::string("(none)") : v; };
  std::ostringstream os;
  for (size_t i = 0; i < changes.size(); ++i) {
    const RunChange& c = changes[i];
    const auto it = names.find(c.name);
    os << (i ? "; " : "") << (it == names.end() ? c.name : it->second) << ": " << show(c.stored)
       << " in the checkpoint, " << show(c.given) << " given";
  }
  SRMDS_USAGE("train: --resume '" << resume << "' continues a run with other settings (" << os.str()
                                  << "); give the run's values, or start a new run without --resume");
}

// The GPU of a rank: its local rank, or 0 where CUDA_VISIBLE_DEVICES leaves each rank one GPU.
int cuda_device_for(const dist::Communicator& comm) {
  if (comm.world_size() == 1) return -1;
  const char* visible = std::getenv("CUDA_VISIBLE_DEVICES");
  if (visible && *visible && std::string(visible).find(',') == std::string::npos) return 0;
  return comm.local_rank();
}

// FNV-1a of a text (the slices' identity), for comparing it over the ranks.
uint64_t text_hash(const std::string& text) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : text) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

void train_ranks(const TrainCliOptions& o, const CLI::App& sub, dist::Communicator& comm) {
  const bool lead = comm.rank() == 0;  // prints and writes
  const TrainOptions& t = o.train;
  if (t.epochs < 1 || t.epochs > 1000000) SRMDS_USAGE("train: --epochs must be in [1, 1000000], got " << t.epochs);
  if (t.batch < 1 || t.batch > 4096) SRMDS_USAGE("train: --batch must be in [1, 4096], got " << t.batch);
  if (!(t.optimizer.lr > 0) || !(t.optimizer.lr < 10))
    SRMDS_USAGE("train: --lr must be in (0, 10), got " << t.optimizer.lr);
  if (!(o.val_fraction >= 0 && o.val_fraction < 1))
    SRMDS_USAGE("train: --val-fraction must be in [0, 1), got " << o.val_fraction);
  if (!(t.warmup_epochs >= 0 && t.warmup_epochs <= 1000000))
    SRMDS_USAGE("train: --warmup-epochs must be in [0, 1000000], got " << t.warmup_epochs);
  if (!(std::isfinite(t.optimizer.weight_decay) && t.optimizer.weight_decay >= 0))
    SRMDS_USAGE("train: --weight-decay must be a finite number >= 0, got " << t.optimizer.weight_decay);
  if (!(t.loss.dice_weight >= 0) || !std::isfinite(t.loss.dice_weight))
    SRMDS_USAGE("train: --dice-weight must be finite and >= 0, got " << t.loss.dice_weight);
  if (t.log_every < 1) SRMDS_USAGE("train: --log-every must be positive, got " << t.log_every);
  if (!(t.ema_decay >= 0 && t.ema_decay < 1)) SRMDS_USAGE("train: --ema must be in [0, 1), got " << t.ema_decay);
  if (t.cuda_graph && o.device != "cuda")
    SRMDS_USAGE("train: --cuda-graph captures the training step on a GPU; it needs --device cuda (got --device "
                << o.device << ")");
  Augmentation augment;
  try {
    augment = parse_augmentation(o.augment);
  } catch (const Error& e) {
    SRMDS_USAGE("train: --augment: " << e.what());
  }
  require_output_path(o.out, "--out");
  std::vector<std::string> images, masks;
  for (const InputPair& p : input_pairs(o.images, o.masks)) {
    images.push_back(p.image);
    masks.push_back(p.mask);
  }
  // --out may be --resume (continuing in place), never an image, a mask or the best-weights file.
  std::vector<NamedFile> inputs;
  for (const std::string& f : images) inputs.push_back({"--images", f});
  for (const std::string& f : masks) inputs.push_back({"--masks", f});
  refuse_same_files(inputs, {{"--out", o.out}, {"the best-weights file", best_path_for(o.out)}},
                    [](const std::string& m) { SRMDS_USAGE("train: " << m); });
  if (!o.resume.empty() && same_file(o.resume, best_path_for(o.out)))
    SRMDS_USAGE("train: --resume '" << o.resume << "' is the best-weights file this run writes");
  for (const std::string& path : {o.out, best_path_for(o.out)}) io::require_replaceable_file(path);
  // A resumed run keeps its options and data (see the top of this file).
  NetConfig stored_cfg;
  bool stored_run_known = false;
  RunRecord stored_run;
  if (!o.resume.empty()) {
    const io::SafetensorsFile ck = io::read_safetensors_header(o.resume);  // the tensors are read once, by resume
    stored_cfg = io::read_weights_info(ck, o.resume).config;
    const auto run = ck.metadata.find("run");
    stored_run_known = run != ck.metadata.end();
    if (stored_run_known)
      stored_run = run_record_from_json(run->second, "checkpoint '" + o.resume + "': metadata 'run'");
  }
  const NetConfig cfg = make_config(o, sub, o.resume.empty() ? nullptr : &stored_cfg);
  const RunRecord options = run_options(o, augment);
  if (stored_run_known) {
    std::vector<RunChange> changes =
        run_changes(config_record(config_to_json(stored_cfg)), config_record(config_to_json(cfg)));
    for (const RunChange& c : run_changes(stored_run, options)) changes.push_back(c);
    refuse_changes(changes, o.resume);
  } else if (!o.resume.empty()) {
    if (lead) print_warnings({"train: checkpoint '" + o.resume +
                    "' records no run options (an older srmds wrote it): a change of --seed, --batch, --lr, "
                    "the data or another option cannot be detected"});
  }
  SliceDataOptions data_options = SliceDataOptions::from_config(cfg);
  data_options.input.dicom_series = o.series;
  data_options.input.png16_hu = o.png16_hu;
  if (sub.count("--labels") > 0) data_options.image_mask_labels = cfg.lesion_labels;

  if (o.device == "cpu") {  // one training step's activations, gradients, weights and Adam moments
    DeepSupervisionOptions loss;
    set_loss_options(o, loss);
    require_memory(probe_train_memory(cfg, loss, t.optimizer).bytes(t.batch, cfg.input_size[0], cfg.input_size[1]),
                   "train: a base-" + std::to_string(cfg.base) + " network on batches of " + std::to_string(t.batch) +
                       " slices of " + std::to_string(cfg.input_size[0]) + " x " + std::to_string(cfg.input_size[1]),
                   "lower --batch, --size or --base");
  }
  with_device(o.device, [&](auto& ctx) {
    using D = device_of_t<decltype(ctx)>;
    TrainData data = load_train_data(images, masks, data_options, o.val_fraction, o.seed, !o.no_flip, augment);
    if (lead) print_warnings(data.train.warnings());
    const RunRecord data_record = run_data(data);
    for (const auto& [name, identity] : data_record)  // every rank trains on rank 0's slices
      dist::require_same_on_every_rank(comm, text_hash(identity), "the " + name + " (--images, --masks)");
    if (stored_run_known) refuse_changes(run_changes(stored_run, data_record), o.resume);
    RunRecord record = options;
    record.insert(data_record.begin(), data_record.end());
    SrmdsNet<float, D> net(ctx, cfg, NetForm::Train, o.seed);
    TrainOptions to = o.train;
    set_loss_options(o, to.loss);
    to.checkpoint_path = o.out;
    to.best_path = best_path_for(o.out);
    to.checkpoint_metadata["run"] = run_record_to_json(record);
    to.checkpoint_metadata["ranks"] = std::to_string(comm.world_size());
    to.communicator = &comm;
    // Under a launcher with --device cuda: the gradients on the GPUs with NCCL (bootstrapped over MPI).
    std::unique_ptr<dist::NcclCommunicator> nccl;
    if constexpr (!std::is_same_v<D, Cpu>) {
      if (!o.no_nccl && dist::built_with_nccl() && dist::launched_world_size() > 0) {
        // Every rank must be able to load the library before any bootstraps NCCL: all or none.
        const std::string why = dist::nccl_load_error();
        double loadable = why.empty() ? 1 : 0;
        comm.all_reduce(&loadable, 1, dist::ReduceOp::Sum);
        if (loadable == comm.world_size()) {
          nccl = dist::make_nccl_communicator(comm, ctx.device());
          to.device_communicator = nccl.get();
          if (lead)
            std::printf("gradients: NCCL %d on the GPUs (rank 0 on device %d)\n", nccl->nccl_version(),
                        nccl->device());
        } else if (lead) {
          print_warnings({"train: NCCL cannot be loaded on every rank" +
                          (why.empty() ? std::string() : " (rank 0: " + why + ")") +
                          "; the gradients go through host memory and MPI"});
        }
      }
    }
    Trainer<float, D> trainer(ctx, net, to);
    if (!o.resume.empty()) {
      trainer.resume(o.resume);
      if (lead)
        std::printf("resumed %s at epoch %d, step %lld\n", o.resume.c_str(), trainer.epoch() + 1,
                    static_cast<long long>(trainer.step()));
      const auto stored_ranks = io::read_safetensors_header(o.resume).metadata;
      const auto it = stored_ranks.find("ranks");
      const std::string ranks = it == stored_ranks.end() ? "1" : it->second;
      if (lead && ranks != std::to_string(comm.world_size()) && !t.sync_bn)
        print_warnings({"train: '" + o.resume + "' was trained on " + ranks + " rank(s) and this run has " +
                        std::to_string(comm.world_size()) + ": the batch of " + std::to_string(t.batch) +
                        " is split differently, so BatchNorm sees other per-rank batches and the run does not "
                        "continue exactly as it would have"});
      if (trainer.epoch() >= to.epochs) {  // nothing to train: nothing is written
        if (!same_file(o.out, o.resume))
          SRMDS_USAGE("train: --resume '" << o.resume << "' has trained " << trainer.epoch() << " epochs and --epochs is "
                                          << to.epochs << ": nothing to train, so --out '" << o.out
                                          << "' would not be written (give --epochs above " << trainer.epoch()
                                          << " to continue)");
        if (lead)
          std::printf("nothing to train: '%s' has trained %d epochs and --epochs is %d; no file written (give a "
                      "larger --epochs to continue)\n",
                      o.resume.c_str(), trainer.epoch(), to.epochs);
        return;
      }
    }
    if (!lead) {  // the other ranks train silently; rank 0 reports and writes
      trainer.fit(data.train, data.val.size() > 0 ? &data.val : nullptr);
      return;
    }
    const ModelStats st = model_stats(cfg, NetForm::Train, cfg.input_size[0], cfg.input_size[1]);
    std::printf("training %s parameters on %lld slices (%lld validation), %d x %d, batch %d, %d epochs, device %s\n",
                with_thousands(st.params).c_str(), static_cast<long long>(data.train.size()),
                static_cast<long long>(data.val.size()), cfg.input_size[0], cfg.input_size[1], to.batch, to.epochs,
                D::name);
    if (comm.world_size() > 1)
      std::printf("data-parallel: %d ranks (%s), %s slices per rank and step, BatchNorm over %s\n",
                  comm.world_size(), comm.name(),
                  t.batch % comm.world_size() == 0
                      ? std::to_string(t.batch / comm.world_size()).c_str()
                      : (std::to_string(t.batch / comm.world_size()) + " or " +
                         std::to_string(t.batch / comm.world_size() + 1))
                            .c_str(),
                  t.sync_bn ? "the global batch (--sync-bn)" : "each rank's slices");
    if (augment.any()) std::printf("augmentation: %s\n", augmentation_to_string(augment).c_str());
    if (to.ema_decay > 0) std::printf("weight average (EMA) decay %g for validation and the best file\n", to.ema_decay);
    if (to.cuda_graph && !trainer.graph_enabled())
      std::printf("--cuda-graph: the step stays eager (%s)\n",
                  to.ema_decay > 0 ? "--ema is on" : "several ranks: the gradient reduction is not captured");
    std::fflush(stdout);
    trainer.on_progress = [](const TrainProgress& p) {
      std::printf("%s\n", format_progress(p).c_str());
      std::fflush(stdout);
    };
    trainer.on_epoch = [&](const EpochReport& r) {
      std::printf("%s\n", format_epoch(r, to.epochs).c_str());
      std::fflush(stdout);
    };
    try {
      const auto start = std::chrono::steady_clock::now();
      trainer.fit(data.train, data.val.size() > 0 ? &data.val : nullptr);
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (comm.world_size() > 1)
        std::printf("gradient all-reduce on rank 0: %.2f s of %.2f s (%.1f %%, waiting for the slower rank "
                    "included), %.2f s of it after the backward passes (%s)\n",
                    trainer.communication_seconds(), secs, secs > 0 ? 100 * trainer.communication_seconds() / secs : 0.0,
                    trainer.exposed_communication_seconds(),
                    to.overlap_reduce && std::is_same_v<D, Cpu>
                        ? (std::to_string(static_cast<int>(std::lround(100 * trainer.communication_completed_in_backward()))) +
                           " % of the values summed before a pass ended")
                              .c_str()
                        : "--no-overlap or CUDA: reduced after them");
      if (trainer.graph_enabled()) {
        std::printf("CUDA Graph: %lld steps replayed, %d captures\n", static_cast<long long>(trainer.graph_replays()),
                    trainer.graph_captures());
        if (!trainer.graph_note().empty()) std::printf("CUDA Graph refused, steps ran eagerly: %s\n", trainer.graph_note().c_str());
      }
    } catch (const std::bad_alloc&) {
      SRMDS_THROW("train: out of memory training a base-" << cfg.base << " network on batches of --batch " << t.batch
                                                          << " slices of " << cfg.input_size[0] << " x "
                                                          << cfg.input_size[1] << " (try a smaller --batch or --size)");
    }
    std::printf("checkpoint: %s\n", o.out.c_str());  // fit ran at least one epoch, so it was written
    std::error_code ec;
    if (trainer.best_written())
      std::printf("best weights: %s\n", to.best_path.c_str());
    else if (same_file(o.out, o.resume) && std::filesystem::is_regular_file(to.best_path, ec))
      std::printf("best weights: %s (unchanged: no epoch of this run beat validation Dice %.4f)\n", to.best_path.c_str(),
                  trainer.best_dice());
    else
      std::printf("best weights: not written (no epoch of this run beat the validation Dice %.4f of '%s')\n",
                  trainer.best_dice(), o.resume.c_str());
  }, o.device == "cuda" ? cuda_device_for(comm) : -1);
}

// Runs the training on this process's rank. With more than one rank an error on this one ends the
// whole job, naming the rank, instead of leaving the others waiting in a collective.
void run_train(const TrainCliOptions& o, const CLI::App& sub) {
  const std::unique_ptr<dist::Communicator> comm = dist::make_communicator();
  if (comm->world_size() == 1) return train_ranks(o, sub, *comm);
  try {
    train_ranks(o, sub, *comm);
  } catch (const std::exception& e) {
    std::string line = e.what();
    for (char& ch : line)
      if (ch == '\n' || ch == '\r') ch = ' ';
    std::fprintf(stderr, "srmds: error: rank %d of %d: %s\n", comm->rank(), comm->world_size(), line.c_str());
    comm->abort(dynamic_cast<const RequestError*>(&e) ? 2 : 1);
  }
}

}  // namespace

void add_train_command(CLI::App& app) {
  auto o = std::make_shared<TrainCliOptions>();
  CLI::App* sub = app.add_subcommand("train", "Train SR&MDS-Net on image/mask pairs (NIfTI, DICOM, PNG/JPEG)");
  sub->add_option("--images", o->images,
                  "Images, comma-separated (or repeated): NIfTI files, DICOM series folders, PNG/JPEG slices, "
                  "or folders of slices")
      ->required();
  sub->add_option("--masks", o->masks, "Masks in the same order (a mask folder for a folder of slices)")->required();
  add_reader_options(sub, o->series, o->png16_hu);
  sub->add_option("--out", o->out, "Checkpoint written after every epoch (.safetensors)")->required();
  sub->add_option("--resume", o->resume,
                  "Checkpoint to continue from. The run's options must be the same (--seed, --val-fraction, --batch, "
                  "--lr, --warmup-epochs, --weight-decay, --decoupled, --no-flip, --ds, --target, --dice-weight, "
                  "--augment, --ema, --series, --png16-hu and the network options), and so must its slices "
                  "(--images/--masks may move); --epochs, --device, --log-every and --out may change");
  sub->add_option("--epochs", o->train.epochs)->capture_default_str();
  sub->add_option("--batch", o->train.batch)->capture_default_str();
  sub->add_option("--lr", o->train.optimizer.lr, "Peak learning rate")->capture_default_str();
  sub->add_option("--size", o->size, "Model input size H or HxW (multiples of 16)")->capture_default_str();
  sub->add_option("--base", o->base, "Base width b")->capture_default_str();
  add_device_option(sub, o->device);
  sub->add_option("--val-fraction", o->val_fraction, "Fraction of the volumes used for validation")
      ->capture_default_str();
  sub->add_option("--seed", o->seed, "Seed of the initialisation, split, shuffling and flips")->check(seed_value())->capture_default_str();
  sub->add_option("--warmup-epochs", o->train.warmup_epochs)->capture_default_str();
  sub->add_option("--weight-decay", o->train.optimizer.weight_decay)->capture_default_str();
  sub->add_flag("--decoupled", o->train.optimizer.decoupled, "Decoupled weight decay (AdamW)");
  sub->add_flag("--no-flip", o->no_flip, "No random horizontal flips");
  sub->add_option("--ds", o->ds, "Deep supervision")->check(CLI::IsMember({"native", "upsample", "off"}))
      ->capture_default_str();
  sub->add_option("--target", o->target, "Coarse targets")->check(CLI::IsMember({"avg", "nearest", "max"}))
      ->capture_default_str();
  sub->add_option("--branches", o->branches, "SRFV branches, comma-separated")->capture_default_str();
  sub->add_option("--bn", o->bn)->check(CLI::IsMember({"inner", "external"}))->capture_default_str();
  sub->add_option("--attention", o->attention, "Attention of every block (SPEC §2: " + attention_names_text() + ")")
      ->capture_default_str();
  sub->add_option("--dice-weight", o->train.loss.dice_weight, "Dice weight W: loss BCE + W (1 - Dice); the paper compares 0, 0.5, 1")
      ->capture_default_str();
  sub->add_option("--window", o->window, "HU window lo,hi or none (per-volume min-max)")->capture_default_str();
  sub->add_option("--labels", o->labels,
                  "Lesion labels, comma-separated, or any (mask images: any pixel > 0 unless given)")
      ->capture_default_str();
  sub->add_option("--log-every", o->train.log_every, "Progress line every this many steps")->capture_default_str();
  sub->add_option("--augment", o->augment,
                  "none, default, or key=value,... of rotate, scale, deform, spatial_p, gamma, contrast, brightness, "
                  "intensity_p (data/augment.hpp)")
      ->capture_default_str();
  sub->add_option("--ema", o->train.ema_decay,
                  "Decay of the moving average of the weights that validation and the best file use (0: off)")
      ->capture_default_str();
  sub->add_flag("--no-overlap", [o](int64_t) { o->train.overlap_reduce = false; },
                "With several ranks: all-reduce the gradient buckets after the backward pass instead of while it runs "
                "(for comparison; the same results)");
  sub->add_option_function<double>(
         "--bucket-mib",
         [o](double mib) {
           if (!(mib >= 0.0001 && mib <= 4096)) SRMDS_USAGE("train: --bucket-mib must be in [0.0001, 4096], got " << mib);
           o->train.bucket_values = static_cast<int64_t>(std::llround(mib * 1048576 / sizeof(float)));
         },
         "With several ranks: MiB of float gradient values per all-reduce bucket (default 4)");
  sub->add_flag("--no-nccl", o->no_nccl,
                "Under mpirun with --device cuda: reduce the gradients through host memory and MPI instead of NCCL");
  sub->add_flag("--cuda-graph", o->train.cuda_graph,
                "With --device cuda: replay each training step from a CUDA Graph (one launch per step; not with --ema "
                "or several ranks; off by default: never measured on a GPU)");
  sub->add_flag("--sync-bn", o->train.sync_bn,
                "With several ranks: BatchNorm statistics over the global batch (reduced across the ranks) instead "
                "of each rank's slices");
  sub->callback([o, sub] { run_train(*o, *sub); });
}

}  // namespace srmds::cli
