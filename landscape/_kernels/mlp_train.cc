// Batched full-batch trainer for one-hidden-layer MLPs with a scalar output and MSE loss,
// registered with XLA as a typed FFI custom call (see landscape/fast_mlp.py).
//
// It does exactly what landscape.training.train_one does for this model family, network by
// network: at every step the loss and gradient on the full dataset, the global gradient norm,
// convergence (norm < grad_tol: parameters frozen, status CONVERGED) and divergence (loss,
// gradient or updated parameters not finite: last finite parameters kept, status DIVERGED)
// checks, then an optax-equivalent Adam or SGD(/momentum/Nesterov) update; the loss before
// each recorded step; and after the last step the loss and gradient norm at the final
// parameters. Operation order follows the JAX program (pre-activation = x.w then + b;
// prediction = a.w2 then + b2; cotangent (2 r) / B per point) so results agree to float
// rounding; sums over points are sequential here and tree-shaped in XLA.
//
// Layout: networks in blocks of V lanes, the lane index innermost, so that the compiler
// vectorises across networks while one block's parameters and gradients stay in L1 for the
// whole pass over the data (the layout of ../shared/bench/ref_train.c). Blocks run in
// parallel with OpenMP. A block stops early once every lane in it has stopped.
//
// Packed parameters of one network (P = D*H + 2H + 1 floats):
//   w1[d][h] at d*H + h | b1[h] at D*H + h | w2[h] at D*H + H + h | b2 at D*H + 2H.
// Disabled biases are held at zero and excluded from the update and the gradient norm.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <tuple>
#include <type_traits>
#include <vector>

#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {  // NOLINT

// SIMD vectors of L lanes, L the target's native float vector width (-march=native picks it):
// GCC vector extensions wider than the hardware's registers are lowered lane by lane (scalar
// code, about 8x slower on AVX2), so the width must match what the CPU has. A block is NV
// vectors of V networks; V only changes how networks are grouped, never any network's result.
#if defined(__AVX512F__)
constexpr int L = 16;  // one AVX-512 register
#elif defined(__AVX__)
constexpr int L = 8;  // one AVX/AVX2 register
#else
constexpr int L = 4;  // SSE / NEON
#endif
constexpr int V = 2 * L;  // networks per block: two vectors (32 on AVX-512, 16 on AVX2)
constexpr int NV = V / L;

enum Activation { RELU = 0, LEAKY_RELU = 1, LINEAR = 2, TANH = 3, SIGMOID = 4, SOFTPLUS = 5, ELU = 6, EXP = 7, GELU = 8 };
enum Optimizer { ADAM = 0, SGD = 1, MOMENTUM = 2 };
enum StatusCode { CONVERGED = 0, MAX_STEPS = 1, DIVERGED = 2 };

struct Config {
  int D, H, B, P, steps, R;
  const int32_t* record;
  float slope;
  bool hidden_bias, out_bias;
  int optimizer;
  float lr, b1, b2, eps, eps_root, momentum;
  bool nesterov;
  float grad_tol;
};

// Activation value and derivative, matching jax.nn's definitions and custom JVPs.
template <int A>
static inline void activate(float z, float slope, float& a, float& da) {
  if constexpr (A == RELU) {
    a = z > 0.f ? z : 0.f;
    da = z > 0.f ? 1.f : 0.f;
  } else if constexpr (A == LEAKY_RELU) {
    a = z > 0.f ? z : slope * z;
    da = z > 0.f ? 1.f : slope;
  } else if constexpr (A == LINEAR) {
    a = z;
    da = 1.f;
  } else if constexpr (A == TANH) {
    a = std::tanh(z);
    da = 1.f - a * a;
  } else if constexpr (A == SIGMOID) {
    a = 1.f / (1.f + std::exp(-z));
    da = a * (1.f - a);
  } else if constexpr (A == SOFTPLUS) {
    a = std::log1p(std::exp(-std::fabs(z))) + std::max(z, 0.f);
    da = 1.f / (1.f + std::exp(-z));
  } else if constexpr (A == ELU) {
    a = z > 0.f ? z : std::expm1(z);
    da = z > 0.f ? 1.f : std::exp(z);
  } else if constexpr (A == EXP) {
    a = std::exp(z);
    da = a;
  } else {  // GELU, tanh approximation (jax.nn.gelu(approximate=True))
    const float c = 0.7978845608028654f;  // sqrt(2 / pi)
    float t = std::tanh(c * (z + 0.044715f * (z * z * z)));
    float cdf = 0.5f * (1.f + t);
    a = z * cdf;
    da = cdf + z * 0.5f * (1.f - t * t) * c * (1.f + 3.f * 0.044715f * z * z);
  }
}

// One block's working memory, 64-byte aligned so the lane loops use aligned vector loads.
struct AlignedArray {
  float* ptr = nullptr;
  explicit AlignedArray(size_t n) {
    size_t bytes = ((n * sizeof(float) + 63) / 64) * 64;
    ptr = static_cast<float*>(std::aligned_alloc(64, bytes ? bytes : 64));
    std::memset(ptr, 0, bytes ? bytes : 64);
  }
  ~AlignedArray() { std::free(ptr); }
  AlignedArray(const AlignedArray&) = delete;
  AlignedArray& operator=(const AlignedArray&) = delete;
  float* data() const { return ptr; }
  float& operator[](size_t i) const { return ptr[i]; }
};

struct Workspace {
  AlignedArray p, m, v, g, np, nm, nv, a, da;
  float loss[V], gnorm[V];
  Workspace(int P, int H)
      : p(P * V), m(P * V), v(P * V), g(P * V), np(P * V), nm(P * V), nv(P * V), a(H * V), da(H * V) {}
};

typedef float vf __attribute__((vector_size(4 * L)));

template <int A>
static inline void activate_vec(vf z, float slope, vf& a, vf& da) {
  const vf zero = {}, one = zero + 1.f;
  if constexpr (A == RELU) {
    a = z > zero ? z : zero;
    da = z > zero ? one : zero;
  } else if constexpr (A == LEAKY_RELU) {
    a = z > zero ? z : slope * z;
    da = z > zero ? one : zero + slope;
  } else if constexpr (A == LINEAR) {
    a = z;
    da = one;
  } else {
    for (int l = 0; l < L; l++) {
      float al, dl;
      activate<A>(z[l], slope, al, dl);
      a[l] = al;
      da[l] = dl;
    }
  }
}

// Loss (mean squared error) and gradient of every lane of a block at parameters w.p.
// DD > 0: the input dimension fixed at compile time (the inner loops unroll); DD = 0: runtime c.D.
// Per point: forward through the hidden units with the prediction kept in registers, then the
// backward pass accumulating gradients (in L1) in the order of the JAX program.
template <int A, int DD>
static void loss_and_grad(const Config& c, const float* __restrict X, const float* __restrict Y, Workspace& w) {
  const int D = DD > 0 ? DD : c.D, H = c.H, B = c.B;
  const vf* __restrict p = (const vf*)__builtin_assume_aligned(w.p.data(), 64);
  vf* __restrict g = (vf*)__builtin_assume_aligned(w.g.data(), 64);
  vf* __restrict act = (vf*)__builtin_assume_aligned(w.a.data(), 64);
  vf* __restrict dact = (vf*)__builtin_assume_aligned(w.da.data(), 64);
  const vf* __restrict w1 = p;  // w1[(d * H + h) * NV + j]
  const vf* __restrict b1 = p + D * H * NV;
  const vf* __restrict w2 = p + (D * H + H) * NV;
  const vf* __restrict b2 = p + (D * H + 2 * H) * NV;
  vf* __restrict gw1 = g;
  vf* __restrict gb1 = g + D * H * NV;
  vf* __restrict gw2 = g + (D * H + H) * NV;
  std::memset(w.g.data(), 0, sizeof(float) * c.P * V);
  const vf zero = {};
  vf loss[NV], gb2[NV], bias2[NV];
  for (int j = 0; j < NV; j++) {
    loss[j] = zero;
    gb2[j] = zero;
    bias2[j] = b2[j];
  }
  const float inv_b = 1.f / (float)B;
  const float slope = c.slope;
  constexpr int DS = DD > 0 ? DD : 1;
  for (int b = 0; b < B; b++) {
    const float* __restrict xb = X + (size_t)b * D;
    const float yb = Y[b];
    vf pred[NV];
    for (int j = 0; j < NV; j++) pred[j] = zero;
    for (int h = 0; h < H; h++) {
      for (int j = 0; j < NV; j++) {
        vf z = xb[0] * w1[h * NV + j];
        if constexpr (DD > 0) {
#pragma GCC unroll 8
          for (int d = 1; d < DD; d++) z += xb[d] * w1[(d * H + h) * NV + j];
        } else {
          for (int d = 1; d < D; d++) z += xb[d] * w1[(d * H + h) * NV + j];
        }
        z += b1[h * NV + j];
        vf a, da;
        activate_vec<A>(z, slope, a, da);
        act[h * NV + j] = a;
        dact[h * NV + j] = da;
        pred[j] += a * w2[h * NV + j];
      }
    }
    vf ct[NV];
    for (int j = 0; j < NV; j++) {
      vf r = (pred[j] + bias2[j]) - yb;
      loss[j] += r * r;
      ct[j] = (2.f * r) * inv_b;
      gb2[j] += ct[j];
    }
    float xs[DS];
    if constexpr (DD > 0)
      for (int d = 0; d < DD; d++) xs[d] = xb[d];
    for (int h = 0; h < H; h++) {
      for (int j = 0; j < NV; j++) {
        const int hj = h * NV + j;
        vf dz = ct[j] * w2[hj] * dact[hj];
        gw2[hj] += act[hj] * ct[j];
        gb1[hj] += dz;
        if constexpr (DD > 0) {
#pragma GCC unroll 8
          for (int d = 0; d < DD; d++) gw1[(d * H + h) * NV + j] += xs[d] * dz;
        } else {
          for (int d = 0; d < D; d++) gw1[(d * H + h) * NV + j] += xb[d] * dz;
        }
      }
    }
  }
  vf* gb2_out = g + (D * H + 2 * H) * NV;
  for (int j = 0; j < NV; j++) gb2_out[j] = gb2[j];
  if (!c.hidden_bias) std::memset((void*)gb1, 0, sizeof(float) * H * V);
  if (!c.out_bias) std::memset((void*)gb2_out, 0, sizeof(float) * V);
  for (int j = 0; j < NV; j++)
    for (int l = 0; l < L; l++) w.loss[j * L + l] = loss[j][l] / (float)B;
  const float* gf = w.g.data();
  for (int k = 0; k < V; k++) w.gnorm[k] = 0.f;
  for (int i = 0; i < c.P; i++)
    for (int k = 0; k < V; k++) w.gnorm[k] += gf[i * V + k] * gf[i * V + k];
  for (int k = 0; k < V; k++) w.gnorm[k] = std::sqrt(w.gnorm[k]);
}

// Proposed update of every lane (into w.np / w.nm / w.nv); optax semantics.
static void propose(const Config& c, Workspace& w, int count) {
  const int n = c.P * V;
  const float* __restrict p = w.p.data();
  const float* __restrict g = w.g.data();
  const float* __restrict m = w.m.data();
  const float* __restrict v = w.v.data();
  float* __restrict np = w.np.data();
  float* __restrict nm = w.nm.data();
  float* __restrict nv = w.nv.data();
  if (c.optimizer == ADAM) {
    const float bc1 = 1.f - std::pow(c.b1, (float)count), bc2 = 1.f - std::pow(c.b2, (float)count);
    for (int i = 0; i < n; i++) {
      float mi = (1.f - c.b1) * g[i] + c.b1 * m[i];
      float vi = (1.f - c.b2) * (g[i] * g[i]) + c.b2 * v[i];
      nm[i] = mi;
      nv[i] = vi;
      float u = (mi / bc1) / (std::sqrt(vi / bc2 + c.eps_root) + c.eps);
      np[i] = p[i] + (-c.lr) * u;
    }
  } else if (c.optimizer == MOMENTUM) {
    for (int i = 0; i < n; i++) {
      float tr = g[i] + c.momentum * m[i];
      nm[i] = tr;
      float u = c.nesterov ? g[i] + c.momentum * tr : tr;
      np[i] = p[i] + (-c.lr) * u;
    }
  } else {
    for (int i = 0; i < n; i++) np[i] = p[i] + (-c.lr) * g[i];
  }
}

template <int A, int DD>
static void train_block(const Config& c, const float* X, const float* Y, const float* params_in, int64_t first, int lanes,
                        float* params_out, float* final_loss, float* grad_norm, int8_t* status_out, int32_t* steps_out,
                        float* traj) {
  const int P = c.P;
  Workspace w(P, c.H);
  for (int i = 0; i < P; i++)
    for (int k = 0; k < V; k++) w.p[i * V + k] = params_in[(first + std::min(k, lanes - 1)) * P + i];
  int status[V], updates[V];
  float stop_loss[V], stop_gnorm[V], move[V];
  for (int k = 0; k < V; k++) {
    status[k] = MAX_STEPS;
    updates[k] = 0;
  }
  int rec = 0;
  int t = 0;
  for (; t < c.steps; t++) {
    bool any_running = false;
    for (int k = 0; k < lanes; k++) any_running |= status[k] == MAX_STEPS;
    if (!any_running) break;
    loss_and_grad<A, DD>(c, X, Y, w);
    propose(c, w, t + 1);  // running lanes have moved at every earlier step: optax count = t + 1
    float bad[V] = {};  // any updated parameter not finite (|x| <= FLT_MAX is false for inf and NaN)
    for (int i = 0; i < P; i++)
      for (int k = 0; k < V; k++) bad[k] += std::fabs(w.np[i * V + k]) <= 3.4028234663852886e38f ? 0.f : 1.f;
    for (int k = 0; k < V; k++) {
      bool running = status[k] == MAX_STEPS;
      bool finite = std::isfinite(w.loss[k]) && std::isfinite(w.gnorm[k]);
      bool converged = finite && w.gnorm[k] < c.grad_tol;
      bool new_finite = bad[k] == 0.f;
      bool diverged = !finite || !new_finite;
      bool m_ = running && !converged && !diverged;
      move[k] = m_ ? 1.f : 0.f;
      updates[k] += m_;
      if (running && !m_) {
        status[k] = diverged ? DIVERGED : CONVERGED;
        stop_loss[k] = w.loss[k];
        stop_gnorm[k] = w.gnorm[k];
      }
    }
    for (int i = 0; i < P; i++)
      for (int k = 0; k < V; k++) {
        const int j = i * V + k;
        const bool mv = move[k] != 0.f;
        w.p[j] = mv ? w.np[j] : w.p[j];
        w.m[j] = mv ? w.nm[j] : w.m[j];
        w.v[j] = mv ? w.nv[j] : w.v[j];
      }
    for (; rec < c.R && c.record[rec] == t; rec++)
      for (int k = 0; k < lanes; k++) traj[(first + k) * c.R + rec] = w.loss[k];
  }
  // Every lane has stopped (or the budget is spent): losses from here on are the stopping loss.
  for (; rec < c.R; rec++)
    for (int k = 0; k < lanes; k++) traj[(first + k) * c.R + rec] = stop_loss[k];
  bool any_running = false;
  for (int k = 0; k < lanes; k++) any_running |= status[k] == MAX_STEPS;
  if (any_running) loss_and_grad<A, DD>(c, X, Y, w);
  for (int k = 0; k < lanes; k++) {
    float fl = status[k] == MAX_STEPS ? w.loss[k] : stop_loss[k];
    float gn = status[k] == MAX_STEPS ? w.gnorm[k] : stop_gnorm[k];
    int st = status[k];
    if (!std::isfinite(fl) && st != DIVERGED) st = DIVERGED;
    final_loss[first + k] = fl;
    grad_norm[first + k] = gn;
    status_out[first + k] = (int8_t)st;
    steps_out[first + k] = updates[k];
    for (int i = 0; i < P; i++) params_out[(first + k) * P + i] = w.p[i * V + k];
  }
}

template <int A, int DD>
static void train_all(const Config& c, int64_t N, const float* X, const float* Y, const float* params_in, float* params_out,
                      float* final_loss, float* grad_norm, int8_t* status, int32_t* steps, float* traj) {
  const int64_t blocks = (N + V - 1) / V;
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t blk = 0; blk < blocks; blk++) {
    const int64_t first = blk * V;
    const int lanes = (int)std::min<int64_t>(V, N - first);
    train_block<A, DD>(c, X, Y, params_in, first, lanes, params_out, final_loss, grad_norm, status, steps, traj);
  }
}

ffi::Error TrainImpl(ffi::Buffer<ffi::F32> params, ffi::Buffer<ffi::F32> x, ffi::Buffer<ffi::F32> y,
                     ffi::Buffer<ffi::S32> record, ffi::ResultBuffer<ffi::F32> params_out,
                     ffi::ResultBuffer<ffi::F32> final_loss, ffi::ResultBuffer<ffi::F32> grad_norm,
                     ffi::ResultBuffer<ffi::S8> status, ffi::ResultBuffer<ffi::S32> steps_out,
                     ffi::ResultBuffer<ffi::F32> trajectory, int64_t hidden, int64_t steps, int64_t activation,
                     float slope, bool hidden_bias, bool out_bias, int64_t optimizer, float lr, float b1, float b2,
                     float eps, float eps_root, float momentum, bool nesterov, float grad_tol) {
  auto pd = params.dimensions();
  auto xd = x.dimensions();
  if (pd.size() != 2 || xd.size() != 2) return ffi::Error::InvalidArgument("mlp_train: params (N, P) and x (B, D) expected");
  Config c;
  const int64_t N = pd[0];
  c.P = (int)pd[1];
  c.B = (int)xd[0];
  c.D = (int)xd[1];
  c.H = (int)hidden;
  if (c.P != c.D * c.H + 2 * c.H + 1) return ffi::Error::InvalidArgument("mlp_train: params width does not match D, H");
  if ((int64_t)y.element_count() != c.B) return ffi::Error::InvalidArgument("mlp_train: y must have B entries");
  c.steps = (int)steps;
  c.R = (int)record.element_count();
  c.record = record.typed_data();
  c.slope = slope;
  c.hidden_bias = hidden_bias;
  c.out_bias = out_bias;
  c.optimizer = (int)optimizer;
  c.lr = lr;
  c.b1 = b1;
  c.b2 = b2;
  c.eps = eps;
  c.eps_root = eps_root;
  c.momentum = momentum;
  c.nesterov = nesterov;
  c.grad_tol = grad_tol;
  auto args = std::make_tuple(N, x.typed_data(), y.typed_data(), params.typed_data(), params_out->typed_data(),
                              final_loss->typed_data(), grad_norm->typed_data(), status->typed_data(),
                              steps_out->typed_data(), trajectory->typed_data());
  auto run = [&](auto fn) { std::apply([&](auto... a) { fn(c, a...); }, args); };
  bool ok = true;
  auto by_dim = [&](auto act) {
    constexpr int A = decltype(act)::value;
    if (c.D == 1) run(train_all<A, 1>);
    else if (c.D == 2) run(train_all<A, 2>);
    else if (c.D == 3) run(train_all<A, 3>);
    else run(train_all<A, 0>);
  };
  switch (activation) {
    case RELU: by_dim(std::integral_constant<int, RELU>()); break;
    case LEAKY_RELU: by_dim(std::integral_constant<int, LEAKY_RELU>()); break;
    case LINEAR: by_dim(std::integral_constant<int, LINEAR>()); break;
    case TANH: by_dim(std::integral_constant<int, TANH>()); break;
    case SIGMOID: by_dim(std::integral_constant<int, SIGMOID>()); break;
    case SOFTPLUS: by_dim(std::integral_constant<int, SOFTPLUS>()); break;
    case ELU: by_dim(std::integral_constant<int, ELU>()); break;
    case EXP: by_dim(std::integral_constant<int, EXP>()); break;
    case GELU: by_dim(std::integral_constant<int, GELU>()); break;
    default: ok = false;
  }
  if (!ok) return ffi::Error::InvalidArgument("mlp_train: unknown activation code");
  return ffi::Error::Success();
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(LandscapeMlpTrainF32, TrainImpl,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::S32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::Buffer<ffi::S8>>()
                                  .Ret<ffi::Buffer<ffi::S32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>()
                                  .Attr<int64_t>("hidden")
                                  .Attr<int64_t>("steps")
                                  .Attr<int64_t>("activation")
                                  .Attr<float>("slope")
                                  .Attr<bool>("hidden_bias")
                                  .Attr<bool>("out_bias")
                                  .Attr<int64_t>("optimizer")
                                  .Attr<float>("lr")
                                  .Attr<float>("b1")
                                  .Attr<float>("b2")
                                  .Attr<float>("eps")
                                  .Attr<float>("eps_root")
                                  .Attr<float>("momentum")
                                  .Attr<bool>("nesterov")
                                  .Attr<float>("grad_tol"));

#ifdef MLP_TRAIN_BENCH_MAIN
// Stand-alone timing harness (not part of the package build):
//   g++ -O3 -march=native -fopenmp -DMLP_TRAIN_BENCH_MAIN -I$(jax include) mlp_train.cc && ./a.out N STEPS B H
#include <chrono>
#include <cstdio>
int main(int argc, char** argv) {
  int64_t N = atoi(argv[1]);
  int steps = atoi(argv[2]), B = argc > 3 ? atoi(argv[3]) : 1024, H = argc > 4 ? atoi(argv[4]) : 3, D = 2;
  int P = D * H + 2 * H + 1;
  std::vector<float> X(B * D), Y(B), params(N * P), out(N * P), fl(N), gn(N), traj(N);
  std::vector<int8_t> st(N);
  std::vector<int32_t> sp(N);
  unsigned s = 1;
  auto u = [&]() { s = s * 1664525u + 1013904223u; return (s >> 8) / 16777216.f; };
  for (int b = 0; b < B; b++) { X[2*b] = 2*u()-1; X[2*b+1] = 2*u()-1; Y[b] = std::sqrt(X[2*b]*X[2*b] + X[2*b+1]*X[2*b+1]); }
  for (auto& q : params) q = 2*u()-1;
  for (int64_t n = 0; n < N; n++) { for (int h = 0; h < H; h++) params[n*P + D*H + h] = 0; params[n*P + P - 1] = 0; }
  int32_t rec = steps - 1;
  Config c{D, H, B, P, steps, 1, &rec, 0.01f, true, true, ADAM, 1e-2f, 0.9f, 0.999f, 1e-8f, 0.f, 0.f, false, 1e-5f};
  auto t0 = std::chrono::steady_clock::now();
  train_all<RELU, 2>(c, N, X.data(), Y.data(), params.data(), out.data(), fl.data(), gn.data(), st.data(), sp.data(), traj.data());
  double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  int good = 0; double upd = 0;
  for (int64_t n = 0; n < N; n++) { good += fl[n] < 1e-2f; upd += sp[n]; }
  printf("kernel N=%ld steps=%d B=%d H=%d net_steps_per_s=%.4g frac=%.3f mean_updates=%.0f\n", (long)N, steps, B, H, N * steps / dt, good / (double)N, upd / N);
}
#endif
