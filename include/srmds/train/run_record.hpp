// The record of a training run that its checkpoints carry (metadata "run", a JSON object of
// strings), so that a resume can refuse options or data that differ from the run's: a map from a
// name (`srmds train` uses its option names, "--seed", and "training slices" / "validation
// slices" for the data) to the value as text.
//
// The data's identity is a content hash of the slices as training sees them (after reading,
// windowing and resizing, images and masks, in dataset order), one per split: cheap (one pass over
// pixels already in memory), independent of where the files lie or when they were touched (a moved
// or copied data set resumes), and it changes whenever a slice, the split or the order changes.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "srmds/data/slice_dataset.hpp"

namespace srmds {

using RunRecord = std::map<std::string, std::string>;

std::string run_record_to_json(const RunRecord& record);
// Throws srmds::Error naming `what` unless `text` is a JSON object of strings.
RunRecord run_record_from_json(const std::string& text, const std::string& what);

// A network config as a record: each key of config_to_json's object with its JSON value.
RunRecord config_record(const std::string& config_json);

struct RunChange {
  std::string name, stored, given;
};
// The entries of `given` whose value differs from `stored`'s (names `stored` lacks are not compared).
std::vector<RunChange> run_changes(const RunRecord& stored, const RunRecord& given);

// 64-bit hash of every slice's image (float bits) and mask, with the count and size.
uint64_t slices_content_hash(const SliceDataset& data);
// "12 slices of 32 x 32, content 0123456789abcdef"
std::string slices_identity(const SliceDataset& data);

// The shortest decimal text that reads back as `v` ("0.0005", not "0.00050000000000000001").
std::string shortest_double(double v);

}  // namespace srmds
