// ELF files of a target (its executable, libraries, debug files): load segments, build-id
// (PT_NOTE / .note.gnu.build-id), .gnu_debuglink, function symbols from .symtab/.dynsym, data
// symbol lookup (_PyRuntime) and demangling of the names found.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_support.h"
#include "symbolize/elf_symbols.h"

namespace {

using stallscope::symbolize::SymbolTable;

void Exercise(const SymbolTable& table) {
  // Lookups over the whole address range, and a bounded number of names demangled (the
  // symbolizer demangles the names of frames it reports).
  for (uint64_t vaddr : {uint64_t{0}, uint64_t{0x1000}, uint64_t{0x401000}, ~uint64_t{0}}) {
    if (const SymbolTable::Symbol* s = table.Find(vaddr)) {
      std::string_view name = table.Name(*s);
      stallscope::symbolize::Demangle(name.substr(0, 4096));
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  stallscope::fuzz::MemFile file(std::string_view(reinterpret_cast<const char*>(data), size));
  if (auto info = stallscope::symbolize::ReadElfInfo(file.fd())) {
    info->BuildIdHex();
    for (const auto& load : info->loads) {
      stallscope::symbolize::FileOffsetToVaddr(*info, load.offset);
      stallscope::symbolize::FileOffsetToVaddr(*info, load.offset + load.file_size);
    }
  }
  for (bool allow_dynsym : {false, true}) {
    if (auto table = stallscope::symbolize::ReadFunctionSymbols(file.fd(), allow_dynsym)) {
      Exercise(*table);
    }
  }
  stallscope::symbolize::LookupSymbols(file.fd(), {"_PyRuntime", "Py_Version", "PyCode_Type"});
  return 0;
}
