// ONNX export of the fused network (io/onnx_export.hpp). Built with the ONNX protobuf library when
// SRMDS_WITH_ONNX is 1; otherwise every entry point says that this build has no ONNX support.
#include "srmds/io/onnx_export.hpp"

#include <cstring>
#include <sstream>
#include <unordered_map>
#include <vector>

#include "srmds/core/error.hpp"
#include "srmds/io/atomic_file.hpp"
#include "srmds/nets/layout.hpp"
#include "srmds/version.hpp"

#if SRMDS_WITH_ONNX
#include <onnx/onnx_pb.h>
#endif

namespace srmds::io {

const char* onnx_output_name(OnnxOutput o) { return o == OnnxOutput::Probability ? "probability" : "logits"; }

bool onnx_export_available() { return SRMDS_WITH_ONNX != 0; }

namespace {

void check_options(const OnnxExportOptions& o) {
  SRMDS_CHECK(o.batch >= 0, "export_onnx: batch " << o.batch << " must be positive (or 0: dynamic)");
  SRMDS_CHECK((o.height == 0) == (o.width == 0),
              "export_onnx: height " << o.height << " and width " << o.width << " must be both fixed or both dynamic (0)");
  SRMDS_CHECK(o.height >= 0 && o.width >= 0 && o.height % 16 == 0 && o.width % 16 == 0,
              "export_onnx: " << o.height << " x " << o.width << " must be positive multiples of 16 (or 0: dynamic)");
}

std::string dim_text(int64_t v, const char* symbol) { return v > 0 ? std::to_string(v) : std::string(symbol); }

}  // namespace

std::map<std::string, std::string> onnx_metadata(const NetConfig& cfg, const OnnxExportOptions& opts) {
  check_options(opts);
  std::map<std::string, std::string> m;
  const std::string n = dim_text(opts.batch, "N"), h = dim_text(opts.height, "H"), w = dim_text(opts.width, "W");
  m["srmds.version"] = version();
  m["srmds.form"] = "fused";
  m["srmds.config"] = config_to_json(cfg);
  m["srmds.attention"] = attention_name(cfg.attention);
  m["srmds.align_corners"] = cfg.align_corners ? "true" : "false";
  m["srmds.output"] = onnx_output_name(opts.output);
  m["srmds.opset"] = std::to_string(kOnnxOpset);
  m["input.name"] = "image";
  m["input.shape"] = n + "," + std::to_string(cfg.in_channels) + "," + h + "," + w;
  m["output.name"] = onnx_output_name(opts.output);
  m["output.shape"] = n + ",1," + h + "," + w;
  if (cfg.window) {
    std::ostringstream os;
    os << "[" << (*cfg.window)[0] << ", " << (*cfg.window)[1] << "]";
    m["preprocessing.window"] = os.str();
    m["preprocessing.scale"] = "x = (clip(HU, lo, hi) - lo) / (hi - lo), HU = stored * scl_slope + scl_inter";
  } else {
    m["preprocessing.window"] = "min-max";
    m["preprocessing.scale"] = "x = (v - min) / (max - min) over the volume";
  }
  m["preprocessing.input_size"] = std::to_string(cfg.input_size[0]) + "x" + std::to_string(cfg.input_size[1]);
  m["preprocessing.resize"] =
      "slices not of input_size are resized to it bilinearly (align_corners=false); the probability is "
      "resized back bilinearly, the mask is probability >= 0.5 at the input's size";
  m["preprocessing.layout"] =
      "NCHW; a NIfTI slice k is data[:, :, k].T (H along the file's second axis j, W along its first axis i); "
      "8-bit PNG/JPEG slices are x = v / 255";
  m["postprocessing.threshold"] = "0.5";
  std::string labels;
  for (int l : cfg.lesion_labels) labels += (labels.empty() ? "" : ",") + std::to_string(l);
  m["postprocessing.lesion_labels"] = cfg.lesion_labels.empty() ? "any" : labels;
  return m;
}

#if SRMDS_WITH_ONNX

namespace {

// Builds one GraphProto: nodes, initializers and constants with unique names.
class GraphBuilder {
public:
  explicit GraphBuilder(onnx::GraphProto* g) : m_graph(g) {}

  // A node `op` named `name` with the given inputs and one output (named name + ":0" unless given).
  onnx::NodeProto* add(const std::string& op, const std::string& name, const std::vector<std::string>& inputs,
                       const std::string& output = "") {
    onnx::NodeProto* n = m_graph->add_node();
    n->set_op_type(op);
    n->set_name(unique(name));
    for (const std::string& in : inputs) n->add_input(in);
    n->add_output(output.empty() ? n->name() : output);
    return n;
  }
  // Shorthand: the output name of a new node.
  std::string op(const std::string& op_type, const std::string& name, const std::vector<std::string>& inputs) {
    return add(op_type, name, inputs)->output(0);
  }

  static void attr(onnx::NodeProto* n, const char* key, const std::vector<int64_t>& v) {
    onnx::AttributeProto* a = n->add_attribute();
    a->set_name(key);
    a->set_type(onnx::AttributeProto::INTS);
    for (int64_t x : v) a->add_ints(x);
  }
  static void attr(onnx::NodeProto* n, const char* key, int64_t v) {
    onnx::AttributeProto* a = n->add_attribute();
    a->set_name(key);
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(v);
  }
  static void attr(onnx::NodeProto* n, const char* key, float v) {
    onnx::AttributeProto* a = n->add_attribute();
    a->set_name(key);
    a->set_type(onnx::AttributeProto::FLOAT);
    a->set_f(v);
  }
  static void attr(onnx::NodeProto* n, const char* key, const std::string& v) {
    onnx::AttributeProto* a = n->add_attribute();
    a->set_name(key);
    a->set_type(onnx::AttributeProto::STRING);
    a->set_s(v);
  }

  // A float32 initializer (little-endian raw data).
  std::string floats(const std::string& name, const std::vector<int64_t>& dims, const float* data) {
    onnx::TensorProto* t = m_graph->add_initializer();
    t->set_name(unique(name));
    t->set_data_type(onnx::TensorProto::FLOAT);
    int64_t count = 1;
    for (int64_t d : dims) {
      t->add_dims(d);
      count *= d;
    }
    std::string raw(static_cast<size_t>(count) * sizeof(float), '\0');
    std::memcpy(&raw[0], data, raw.size());  // x86-64 and aarch64 are little-endian, as ONNX's raw_data
    t->set_raw_data(raw);
    return t->name();
  }
  std::string float_scalar(const std::string& name, float v) { return floats(name, {}, &v); }
  // An int64 initializer of rank 1.
  std::string int64s(const std::string& name, const std::vector<int64_t>& v) {
    onnx::TensorProto* t = m_graph->add_initializer();
    t->set_name(unique(name));
    t->set_data_type(onnx::TensorProto::INT64);
    t->add_dims(static_cast<int64_t>(v.size()));
    for (int64_t x : v) t->add_int64_data(x);
    return t->name();
  }

private:
  std::string unique(const std::string& name) {
    int& k = m_used[name];
    return k++ == 0 ? name : name + "_" + std::to_string(k - 1);
  }

  onnx::GraphProto* m_graph;
  std::unordered_map<std::string, int> m_used;
};

using Weights = std::unordered_map<std::string, const Tensor<float, Cpu>*>;

class NetExporter {
public:
  NetExporter(GraphBuilder& b, const NetConfig& cfg, const Weights& w, bool fixed_size, int64_t height, int64_t width)
      : m_b(b), m_cfg(cfg), m_w(w), m_fixed(fixed_size), m_h(height), m_w_px(width) {}

  // The initializer of weight `name`, under its own name.
  std::string weight(const std::string& name) {
    const Tensor<float, Cpu>& t = tensor(name);
    std::vector<int64_t> dims;
    for (int i = 0; i < t.shape().rank(); ++i) dims.push_back(t.shape()[i]);
    return m_b.floats(name, dims, t.data());
  }
  // The initializer of weight `name` reshaped to `dims` (same number of values).
  std::string weight_as(const std::string& name, const std::vector<int64_t>& dims, const std::string& new_name) {
    const Tensor<float, Cpu>& t = tensor(name);
    int64_t count = 1;
    for (int64_t d : dims) count *= d;
    SRMDS_CHECK(count == t.numel(), "export_onnx: tensor '" << name << "' " << t.shape() << " cannot be viewed as "
                                                            << count << " values");
    return m_b.floats(new_name, dims, t.data());
  }
  const Tensor<float, Cpu>& tensor(const std::string& name) const {
    const auto it = m_w.find(name);
    SRMDS_CHECK(it != m_w.end(), "export_onnx: the network has no tensor '" << name << "'");
    return *it->second;
  }

  std::string conv(const std::string& name, const std::string& x, const std::string& w, const std::string& bias,
                   int64_t k) {
    std::vector<std::string> in{x, w};
    if (!bias.empty()) in.push_back(bias);
    onnx::NodeProto* n = m_b.add("Conv", name, in);
    GraphBuilder::attr(n, "kernel_shape", std::vector<int64_t>{k, k});
    GraphBuilder::attr(n, "pads", std::vector<int64_t>{k / 2, k / 2, k / 2, k / 2});
    return n->output(0);
  }

  // One fused block: Relu(A(Conv3x3(x))). Level: resolution 1 / 2^level (for constant pixel counts).
  std::string block(const std::string& p, const std::string& x, int level) {
    std::string y = conv(p + "conv", x, weight(p + "fused.weight"), weight(p + "fused.bias"), 3);
    switch (m_cfg.attention) {
      case Attention::Se: y = se(p, y); break;
      case Attention::Sge: y = sge(p, y, level); break;
      case Attention::Cbam: y = cbam(p, y); break;
      case Attention::Psa: y = psa(p, y); break;
      case Attention::None: break;
    }
    return m_b.op("Relu", p + "relu", {y});
  }

  std::string se(const std::string& p, const std::string& y) {
    const std::string s = m_b.op("GlobalAveragePool", p + "se.pool", {y});
    const std::string h = m_b.op("Relu", p + "se.relu",
                                 {conv(p + "se.fc1", s, weight(p + "se.fc1.weight"), weight(p + "se.fc1.bias"), 1)});
    const std::string a = m_b.op("Sigmoid", p + "se.gate",
                                 {conv(p + "se.fc2", h, weight(p + "se.fc2.weight"), weight(p + "se.fc2.bias"), 1)});
    return m_b.op("Mul", p + "se.scale", {y, a});
  }

  std::string sge(const std::string& p, const std::string& y, int level) {
    const int64_t c = tensor(p + "fused.bias").numel();
    const int64_t g = tensor(p + "att.weight").numel();
    const std::string a = p + "att.";
    // (N, C, H, W) -> (N G, C/G, H, W): Reshape's 0 copies H and W from the input.
    const std::string xg = m_b.op("Reshape", a + "group", {y, m_b.int64s(a + "group_shape", {-1, c / g, 0, 0})});
    const std::string gm = m_b.op("GlobalAveragePool", a + "pool", {xg});
    const std::string prod = m_b.op("Mul", a + "prod", {xg, gm});
    onnx::NodeProto* sum = m_b.add("ReduceSum", a + "energy", {prod, m_b.int64s(a + "energy_axes", {1})});
    GraphBuilder::attr(sum, "keepdims", int64_t{1});
    const std::string e = sum->output(0);  // (N G, 1, H, W)
    const std::string mu = m_b.op("GlobalAveragePool", a + "mean", {e});
    const std::string d = m_b.op("Sub", a + "centre", {e, mu});
    const std::string var_biased = m_b.op("GlobalAveragePool", a + "var", {m_b.op("Mul", a + "square", {d, d})});
    // Unbiased: var * M / (M - 1), M = H W at this level.
    std::string ratio;
    if (m_fixed) {
      const double m = static_cast<double>((m_h >> level) * (m_w_px >> level));
      ratio = m_b.float_scalar(a + "bessel", static_cast<float>(m / (m - 1.0)));
    } else {
      onnx::NodeProto* shape = m_b.add("Shape", a + "hw_shape", {e});
      GraphBuilder::attr(shape, "start", int64_t{2});
      onnx::NodeProto* count = m_b.add("ReduceProd", a + "hw_count", {shape->output(0)});
      GraphBuilder::attr(count, "keepdims", int64_t{0});
      onnx::NodeProto* mf = m_b.add("Cast", a + "hw_float", {count->output(0)});
      GraphBuilder::attr(mf, "to", static_cast<int64_t>(onnx::TensorProto::FLOAT));
      const std::string m1 = m_b.op("Sub", a + "hw_minus_1", {mf->output(0), m_b.float_scalar(a + "one", 1.0f)});
      ratio = m_b.op("Div", a + "bessel", {mf->output(0), m1});
    }
    const std::string sigma = m_b.op("Sqrt", a + "std", {m_b.op("Mul", a + "var_unbiased", {var_biased, ratio})});
    const std::string den = m_b.op("Add", a + "std_eps", {sigma, m_b.float_scalar(a + "eps", 1e-5f)});
    const std::string nrm = m_b.op("Div", a + "norm", {d, den});
    const std::string per_group = m_b.op("Reshape", a + "to_groups", {nrm, m_b.int64s(a + "groups_shape", {-1, g, 0, 0})});
    const std::string t = m_b.op("Add", a + "affine", {m_b.op("Mul", a + "scale", {per_group, weight(a + "weight")}),
                                                        weight(a + "bias")});
    const std::string s = m_b.op("Sigmoid", a + "gate", {t});
    const std::string s_g = m_b.op("Reshape", a + "gate_group", {s, m_b.int64s(a + "gate_shape", {-1, 1, 0, 0})});
    const std::string out = m_b.op("Mul", a + "apply", {xg, s_g});
    return m_b.op("Reshape", a + "ungroup", {out, m_b.int64s(a + "out_shape", {-1, c, 0, 0})});
  }

  std::string cbam(const std::string& p, const std::string& y) {
    const std::string a = p + "att.";
    const std::string fc1 = weight(a + "fc1.weight"), fc2 = weight(a + "fc2.weight");
    auto mlp = [&](const std::string& v, const std::string& tag) {
      return conv(a + "fc2_" + tag, m_b.op("Relu", a + "relu_" + tag, {conv(a + "fc1_" + tag, v, fc1, "", 1)}), fc2,
                  "", 1);
    };
    const std::string avg = m_b.op("GlobalAveragePool", a + "avg", {y});
    const std::string mx = m_b.op("GlobalMaxPool", a + "max", {y});
    const std::string ch = m_b.op("Sigmoid", a + "channel_gate", {m_b.op("Add", a + "channel_sum", {mlp(avg, "avg"), mlp(mx, "max")})});
    const std::string y1 = m_b.op("Mul", a + "channel_apply", {y, ch});
    onnx::NodeProto* mean_c = m_b.add("ReduceMean", a + "mean_c", {y1});
    GraphBuilder::attr(mean_c, "axes", std::vector<int64_t>{1});
    GraphBuilder::attr(mean_c, "keepdims", int64_t{1});
    onnx::NodeProto* max_c = m_b.add("ReduceMax", a + "max_c", {y1});
    GraphBuilder::attr(max_c, "axes", std::vector<int64_t>{1});
    GraphBuilder::attr(max_c, "keepdims", int64_t{1});
    onnx::NodeProto* cat = m_b.add("Concat", a + "pooled", {mean_c->output(0), max_c->output(0)});
    GraphBuilder::attr(cat, "axis", int64_t{1});
    const std::string m = m_b.op(
        "Sigmoid", a + "spatial_gate",
        {conv(a + "spatial", cat->output(0), weight(a + "spatial.weight"), weight(a + "spatial.bias"), 7)});
    return m_b.op("Mul", a + "spatial_apply", {y1, m});
  }

  // PSA in the O(C H W) form of ops/math/psa.hpp (the same function as SPEC §2's definition).
  std::string psa(const std::string& p, const std::string& y) {
    const std::string a = p + "att.";
    const int64_t c = tensor(p + "fused.bias").numel();
    const int64_t half = tensor(a + "sp_wv.bias").numel();
    // Channel branch: q = softmax_hw(Wq y + bq); z = Wv (sum_hw y q) + bv; a = sigmoid(LN(Wz z + bz)).
    const std::string q = conv(a + "ch_wq", y, weight(a + "ch_wq.weight"), weight(a + "ch_wq.bias"), 1);  // (N,1,H,W)
    const std::string q_col = m_b.op("Reshape", a + "ch_q_col", {q, m_b.int64s(a + "col_shape", {0, -1, 1})});
    onnx::NodeProto* qs = m_b.add("Softmax", a + "ch_softmax", {q_col});
    GraphBuilder::attr(qs, "axis", int64_t{1});
    const std::string y_flat = m_b.op("Reshape", a + "flat", {y, m_b.int64s(a + "flat_shape", {0, 0, -1})});  // (N,C,HW)
    const std::string yq = m_b.op("MatMul", a + "ch_pool", {y_flat, qs->output(0)});                          // (N,C,1)
    const std::string yq4 = m_b.op("Reshape", a + "ch_pool4", {yq, m_b.int64s(a + "vec4_shape", {0, 0, 1, 1})});
    const std::string z = conv(a + "ch_wv", yq4, weight(a + "ch_wv.weight"), weight(a + "ch_wv.bias"), 1);
    const std::string zz = conv(a + "ch_wz", z, weight(a + "ch_wz.weight"), weight(a + "ch_wz.bias"), 1);  // (N,C,1,1)
    const std::string z2 = m_b.op("Reshape", a + "ch_vec", {zz, m_b.int64s(a + "vec_shape", {0, -1})});      // (N,C)
    onnx::NodeProto* ln = m_b.add("LayerNormalization", a + "ch_ln", {z2, weight(a + "ch_ln.weight"), weight(a + "ch_ln.bias")});
    GraphBuilder::attr(ln, "axis", int64_t{-1});
    GraphBuilder::attr(ln, "epsilon", 1e-5f);
    const std::string ch_gate = m_b.op("Sigmoid", a + "ch_gate", {ln->output(0)});
    const std::string ch4 = m_b.op("Reshape", a + "ch_gate4", {ch_gate, m_b.int64s(a + "gate4_shape", {0, 0, 1, 1})});
    // Spatial branch: q' = softmax_c(Wq' mean_hw y + bq'); s = (Wv'^T q') . y + q' . bv'; m = sigmoid(s).
    const std::string gp = m_b.op("GlobalAveragePool", a + "sp_pool", {y});
    const std::string gq = conv(a + "sp_wq", gp, weight(a + "sp_wq.weight"), weight(a + "sp_wq.bias"), 1);  // (N,C/2,1,1)
    onnx::NodeProto* sq = m_b.add("Softmax", a + "sp_softmax", {gq});
    GraphBuilder::attr(sq, "axis", int64_t{1});
    const std::string q_row = m_b.op("Reshape", a + "sp_q_row", {sq->output(0), m_b.int64s(a + "row_shape", {0, 1, -1})});
    const std::string wv = weight_as(a + "sp_wv.weight", {half, c}, a + "sp_wv.weight_matrix");
    const std::string bv = weight_as(a + "sp_wv.bias", {half, 1}, a + "sp_wv.bias_column");
    const std::string u = m_b.op("MatMul", a + "sp_u", {q_row, wv});               // (N,1,C)
    const std::string s_flat = m_b.op("MatMul", a + "sp_dot", {u, y_flat});       // (N,1,HW)
    const std::string s_bias = m_b.op("MatMul", a + "sp_bias", {q_row, bv});      // (N,1,1)
    const std::string s_sum = m_b.op("Add", a + "sp_sum", {s_flat, s_bias});
    const std::string s_map = m_b.op("Reshape", a + "sp_map", {s_sum, m_b.op("Shape", a + "map_shape", {q})});  // (N,1,H,W)
    const std::string sp_gate = m_b.op("Sigmoid", a + "sp_gate", {s_map});
    return m_b.op("Mul", a + "apply", {y, m_b.op("Add", a + "gates", {ch4, sp_gate})});
  }

  std::string stage(const StageSpec& st, const std::string& x) {
    const std::string mid = block(st.name + ".b0.", x, st.level);
    return block(st.name + ".b1.", mid, st.level);
  }

  std::string maxpool(const std::string& name, const std::string& x) {
    onnx::NodeProto* n = m_b.add("MaxPool", name, {x});
    GraphBuilder::attr(n, "kernel_shape", std::vector<int64_t>{2, 2});
    GraphBuilder::attr(n, "strides", std::vector<int64_t>{2, 2});
    return n->output(0);
  }

  std::string upsample(const std::string& name, const std::string& x) {
    if (m_scales.empty()) {
      const float s[4] = {1.0f, 1.0f, 2.0f, 2.0f};
      m_scales = m_b.floats("up.scales", {4}, s);
    }
    onnx::NodeProto* n = m_b.add("Resize", name, {x, "", m_scales});
    GraphBuilder::attr(n, "mode", std::string("linear"));
    GraphBuilder::attr(n, "coordinate_transformation_mode",
                       std::string(m_cfg.align_corners ? "align_corners" : "half_pixel"));
    return n->output(0);
  }

  std::string concat(const std::string& name, const std::string& skip, const std::string& up) {
    onnx::NodeProto* n = m_b.add("Concat", name, {skip, up});
    GraphBuilder::attr(n, "axis", int64_t{1});
    return n->output(0);
  }

  // The whole network: returns the logits z_0.
  std::string network(const std::string& x) {
    const auto specs = stage_specs(m_cfg);
    std::array<std::string, 5> e;
    for (int s = 0; s <= 4; ++s)
      e[s] = stage(specs[s], s == 0 ? x : maxpool("pool" + std::to_string(s), e[s - 1]));
    std::string below = e[4];
    for (int s = 3; s >= 0; --s) {
      const std::string cat = concat("cat" + std::to_string(s), e[s], upsample("up" + std::to_string(s), below));
      below = stage(specs[decoder_stage(s)], cat);
    }
    return conv("head0", below, weight("head0.weight"), weight("head0.bias"), 1);
  }

private:
  GraphBuilder& m_b;
  const NetConfig& m_cfg;
  const Weights& m_w;
  bool m_fixed;
  int64_t m_h, m_w_px;
  std::string m_scales;
};

void set_tensor_type(onnx::ValueInfoProto* v, const std::string& name, const std::vector<std::pair<int64_t, const char*>>& dims) {
  v->set_name(name);
  onnx::TypeProto_Tensor* t = v->mutable_type()->mutable_tensor_type();
  t->set_elem_type(onnx::TensorProto::FLOAT);
  for (const auto& d : dims) {
    onnx::TensorShapeProto_Dimension* dim = t->mutable_shape()->add_dim();
    if (d.first > 0)
      dim->set_dim_value(d.first);
    else
      dim->set_dim_param(d.second);
  }
}

}  // namespace

std::string onnx_model_bytes(SrmdsNet<float, Cpu>& net, const OnnxExportOptions& opts) {
  check_options(opts);
  SRMDS_CHECK(net.form() == NetForm::Fused, "export_onnx: the network is in the training form; fuse it first");
  const NetConfig& cfg = net.config();
  const StateList<float, Cpu> state = net.state();
  Weights w;
  for (const NamedTensor<float, Cpu>& nt : state) w.emplace(nt.name, nt.value);

  onnx::ModelProto model;
  model.set_ir_version(kOnnxIrVersion);
  model.set_producer_name("srmds");
  model.set_producer_version(version());
  model.set_model_version(1);
  model.set_doc_string(std::string("SR&MDS-Net, fused inference form, head 0 (COVID-19 CT lesion segmentation); output ") +
                       onnx_output_name(opts.output) + "; preprocessing in metadata_props");
  onnx::OperatorSetIdProto* opset = model.add_opset_import();
  opset->set_domain("");
  opset->set_version(kOnnxOpset);
  for (const auto& kv : onnx_metadata(cfg, opts)) {
    onnx::StringStringEntryProto* e = model.add_metadata_props();
    e->set_key(kv.first);
    e->set_value(kv.second);
  }
  for (const auto& kv : opts.extra_metadata) {
    onnx::StringStringEntryProto* e = model.add_metadata_props();
    e->set_key(kv.first);
    e->set_value(kv.second);
  }

  onnx::GraphProto* graph = model.mutable_graph();
  graph->set_name(std::string("srmds_fused_") + attention_name(cfg.attention));
  GraphBuilder b(graph);
  const bool fixed = opts.height > 0;
  NetExporter ex(b, cfg, w, fixed, opts.height, opts.width);
  set_tensor_type(graph->add_input(), "image",
                  {{opts.batch, "N"}, {cfg.in_channels, ""}, {opts.height, "H"}, {opts.width, "W"}});
  const std::string z = ex.network("image");
  const std::string out_name = onnx_output_name(opts.output);
  if (opts.output == OnnxOutput::Probability)
    b.add("Sigmoid", "sigmoid", {z}, out_name);
  else
    b.add("Identity", "identity", {z}, out_name);
  set_tensor_type(graph->add_output(), out_name, {{opts.batch, "N"}, {1, ""}, {opts.height, "H"}, {opts.width, "W"}});

  std::string bytes;
  SRMDS_CHECK(model.SerializeToString(&bytes), "export_onnx: protobuf could not serialise the model");
  return bytes;
}

#else  // !SRMDS_WITH_ONNX

std::string onnx_model_bytes(SrmdsNet<float, Cpu>&, const OnnxExportOptions&) {
  SRMDS_THROW("export: this build of srmds has no ONNX support (configured without libonnx-dev, SRMDS_WITH_ONNX=OFF); "
              "install libonnx-dev and libprotobuf-dev (scripts/install-deps.sh) and rebuild");
}

#endif

void export_onnx(SrmdsNet<float, Cpu>& net, const OnnxExportOptions& opts, const std::string& path) {
  const std::string bytes = onnx_model_bytes(net, opts);
  write_bytes_atomic(path, bytes.data(), bytes.size());
}

}  // namespace srmds::io
