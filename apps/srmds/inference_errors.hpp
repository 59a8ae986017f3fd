// Errors of a command's inference step named after the user's inputs: non-finite logits name the
// weight file (its weights are corrupt or overflow), out-of-memory names what was being computed
// and the option that sizes it.
#pragma once

#include <new>
#include <string>

#include "srmds/core/error.hpp"
#include "srmds/infer/finite_logits.hpp"

namespace srmds::cli {

// Runs f(); NonFiniteLogits -> "weights file 'MODEL': ...", std::bad_alloc -> "WHAT: out of memory (HINT)".
template <class F>
auto naming_inputs(const std::string& model, const std::string& what, const std::string& hint, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const NonFiniteLogits& e) {
    throw Error("weights file '" + model + "': " + e.what());
  } catch (const std::bad_alloc&) {
    throw Error(what + ": out of memory" + (hint.empty() ? std::string() : " (" + hint + ")"));
  }
}

}  // namespace srmds::cli
