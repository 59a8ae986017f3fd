// Pixel data of a checked DICOM file through GDCM (see io/dicom.hpp): gdcm::Reader parses the
// bytes the walker accepted, and a gdcm::Image described by the walker's checked attributes
// (not by gdcm::ImageReader, whose attribute parsing aborts on some malformed values) decodes the
// PixelData element GDCM parsed (raw, byte-swapped for big endian, or through its JPEG, JPEG-LS,
// JPEG 2000 and RLE codecs). Stored values keep BitsStored bits (two's complement when signed) and
// are rescaled per slice: HU = v * slope + intercept.
#include <gdcmDataSet.h>
#include <gdcmImage.h>
#include <gdcmPhotometricInterpretation.h>
#include <gdcmPixelFormat.h>
#include <gdcmReader.h>
#include <gdcmTrace.h>
#include <gdcmTransferSyntax.h>

#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <mutex>
#include <optional>
#include <sstream>

#include "dicom_detail.hpp"
#include "srmds/core/error.hpp"

namespace srmds::io::detail {

void quiet_gdcm() {
  static std::once_flag once;
  std::call_once(once, [] {
    gdcm::Trace::SetDebug(false);
    gdcm::Trace::SetWarning(false);
    gdcm::Trace::SetError(false);
  });
}

namespace {

// GDCM's JPEG 2000 codec gives OpenJPEG an error handler that prints to stderr itself
// (gdcm_error_callback), past gdcm::Trace, so a damaged file printed a line of its own beside our
// error. While a codec decodes, file descriptor 2 points at a temporary file instead (one decode
// at a time; anything another thread writes to stderr meanwhile lands there too), and what the
// codec wrote becomes part of our message.
class CodecMessages {
public:
  CodecMessages() : m_lock(mutex()) {
    std::fflush(stderr);
    m_file = std::tmpfile();
    if (m_file == nullptr) return;
    m_saved = ::dup(2);
    if (m_saved >= 0 && ::dup2(::fileno(m_file), 2) < 0) {
      ::close(m_saved);
      m_saved = -1;
    }
  }
  ~CodecMessages() {
    restore();
    if (m_file != nullptr) std::fclose(m_file);
  }
  CodecMessages(const CodecMessages&) = delete;
  CodecMessages& operator=(const CodecMessages&) = delete;

  // Points stderr back and returns what was written meanwhile, on one line (at most 300 characters).
  std::string take() {
    restore();
    if (m_file == nullptr) return "";
    char buf[300];
    std::rewind(m_file);
    const size_t n = std::fread(buf, 1, sizeof buf, m_file);
    std::string out;
    for (size_t i = 0; i < n; ++i) {
      const unsigned char c = static_cast<unsigned char>(buf[i]);
      const char shown = c < 32 || c > 126 ? ' ' : static_cast<char>(c);
      if (shown != ' ' || (!out.empty() && out.back() != ' ')) out.push_back(shown);
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    return out;
  }

private:
  static std::mutex& mutex() {
    static std::mutex m;
    return m;
  }
  void restore() {
    if (m_saved < 0) return;
    std::fflush(stderr);
    ::dup2(m_saved, 2);
    ::close(m_saved);
    m_saved = -1;
  }
  std::lock_guard<std::mutex> m_lock;
  std::FILE* m_file = nullptr;
  int m_saved = -1;
};

template <class U>
void rescale(const char* buf, size_t n, const DicomSliceHeader& h, float* out) {
  const int bits = h.bits_stored;
  const uint64_t mask = bits >= 64 ? ~uint64_t{0} : (uint64_t{1} << bits) - 1;
  const bool is_signed = h.pixel_representation == 1;
  for (size_t i = 0; i < n; ++i) {
    U u;
    std::memcpy(&u, buf + i * sizeof(U), sizeof(U));
    const uint64_t bitsval = static_cast<uint64_t>(u) & mask;
    int64_t v = static_cast<int64_t>(bitsval);
    if (is_signed && ((bitsval >> (bits - 1)) & 1u)) v -= int64_t{1} << bits;
    out[i] = static_cast<float>(static_cast<double>(v) * h.slope + h.intercept);
  }
}

}  // namespace

std::vector<float> decode_dicom_pixels(const uint8_t* bytes, size_t size, const DicomWalk& walk, const DicomSliceHeader& h) {
  quiet_gdcm();
  const std::string& name = h.path;
  check_codestream(bytes, size, walk, h);
  std::istringstream in(std::string(reinterpret_cast<const char*>(bytes), size));
  gdcm::Reader reader;
  reader.SetStream(in);
  bool parsed = false;
  try {
    parsed = reader.Read();
  } catch (const std::exception& e) {
    SRMDS_THROW("DICOM '" << name << "': GDCM could not parse the file (" << e.what() << ")");
  }
  if (!parsed) SRMDS_THROW("DICOM '" << name << "': GDCM could not parse the file");
  const gdcm::DataSet& ds = reader.GetFile().GetDataSet();
  const gdcm::Tag pixel_tag(0x7FE0, 0x0010);
  if (!ds.FindDataElement(pixel_tag)) SRMDS_THROW("DICOM '" << name << "': GDCM found no PixelData");
  const gdcm::DataElement& pixel_data = ds.GetDataElement(pixel_tag);
  const gdcm::TransferSyntax ts = reader.GetFile().GetHeader().GetDataSetTransferSyntax();
  if (ts.IsEncapsulated() != walk.encapsulated || (walk.encapsulated ? pixel_data.GetSequenceOfFragments() == nullptr
                                                                     : pixel_data.GetByteValue() == nullptr))
    SRMDS_THROW("DICOM '" << name << "': GDCM read the pixel data differently (transfer syntax " << ts.GetString() << ")");

  // rescale() keeps the low BitsStored bits itself. GDCM's codecs assert that 8-bit pixels store
  // all 8 bits, so for them GDCM is told 8 (it then copies the bytes unchanged).
  const int gdcm_stored = h.bits_allocated == 8 ? 8 : h.bits_stored;
  const int gdcm_high = h.bits_allocated == 8 ? 7 : h.high_bit;
  gdcm::Image image;
  image.SetNumberOfDimensions(2);
  image.SetDimension(0, static_cast<unsigned int>(h.columns));
  image.SetDimension(1, static_cast<unsigned int>(h.rows));
  image.SetPixelFormat(gdcm::PixelFormat(1, static_cast<unsigned short>(h.bits_allocated),
                                         static_cast<unsigned short>(gdcm_stored),
                                         static_cast<unsigned short>(gdcm_high),
                                         static_cast<unsigned short>(h.pixel_representation)));
  image.SetPhotometricInterpretation(h.photometric == "MONOCHROME1" ? gdcm::PhotometricInterpretation::MONOCHROME1
                                                                    : gdcm::PhotometricInterpretation::MONOCHROME2);
  image.SetTransferSyntax(ts);
  image.SetDataElement(pixel_data);

  const size_t n = static_cast<size_t>(h.rows) * static_cast<size_t>(h.columns);
  const size_t bytes_per = static_cast<size_t>(h.bits_allocated / 8);
  const unsigned long length = image.GetBufferLength();
  if (length != n * bytes_per)
    SRMDS_THROW("DICOM '" << name << "': GDCM expects " << length << " bytes of pixels, " << h.rows << " x " << h.columns
                          << " x " << h.bits_allocated << " bits are " << n * bytes_per);
  std::vector<char> buffer(length);
  bool decoded = false;
  std::string codec_said;
  {
    std::optional<CodecMessages> messages;  // compressed pixel data only: a codec runs
    if (walk.encapsulated) messages.emplace();
    try {
      decoded = image.GetBuffer(buffer.data());
    } catch (const std::exception& e) {
      codec_said = messages ? messages->take() : "";
      SRMDS_THROW("DICOM '" << name << "': GDCM could not decode the pixel data (" << ts.GetString() << ": " << e.what()
                            << (codec_said.empty() ? "" : "; codec: " + codec_said) << ")");
    }
    if (messages) codec_said = messages->take();
  }
  if (!decoded)
    SRMDS_THROW("DICOM '" << name << "': GDCM could not decode the pixel data (transfer syntax " << ts.GetString()
                          << (codec_said.empty() ? "" : "; codec: " + codec_said) << ")");

  std::vector<float> hu(n);
  switch (h.bits_allocated) {
    case 8: rescale<uint8_t>(buffer.data(), n, h, hu.data()); break;
    case 16: rescale<uint16_t>(buffer.data(), n, h, hu.data()); break;
    default: rescale<uint32_t>(buffer.data(), n, h, hu.data()); break;
  }
  return hu;
}

}  // namespace srmds::io::detail
