// Argument checks shared by the kernels and their bindings, pure C++: a failed
// check throws std::invalid_argument (ValueError in Python).
#pragma once

#include <stdexcept>
#include <string>

namespace sez {

inline void require(bool ok, const std::string& what) {
    if (!ok) throw std::invalid_argument(what);
}

}  // namespace sez
