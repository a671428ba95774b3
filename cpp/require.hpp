// Argument checks shared by the kernels and their bindings, pure C++: a failed
// check throws std::invalid_argument (ValueError in Python).
#pragma once

#include <initializer_list>
#include <stdexcept>
#include <string>
#include <utility>

namespace sez {

inline void require(bool ok, const std::string& what) {
    if (!ok) throw std::invalid_argument(what);
}

// The option called `name` among `options`; otherwise throws
// "unknown <what> '<name>': use 'a', 'b' or 'c'".
template <class E>
E choose(const std::string& what, const std::string& name, std::initializer_list<std::pair<const char*, E>> options) {
    std::string listed;
    size_t k = 0;
    for (const auto& [label, value] : options) {
        if (name == label) return value;
        listed += (k == 0 ? "" : k + 1 == options.size() ? " or " : ", ") + ("'" + std::string(label) + "'");
        ++k;
    }
    throw std::invalid_argument("unknown " + what + " '" + name + "': use " + listed);
}

}  // namespace sez
