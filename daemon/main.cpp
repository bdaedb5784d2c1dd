// hyperdhtd: the HyperDHT daemon. At this stage it parses its options and prints help; the node
// engine (issue "dht-rpc node") and the control socket (issue "daemon") grow it.
#include <boost/program_options.hpp>
#include <iostream>

#include "core/version.hpp"

namespace po = boost::program_options;

int main(int argc, char** argv) {
  po::options_description opts("hyperdhtd options");
  // clang-format off
  opts.add_options()
    ("help,h", "show this help and exit")
    ("version", "print the version and exit")
    ("config", po::value<std::string>(), "read options from this file (same names as the command line)")
    ("bootstrap", po::value<std::string>(), "host:port[,host:port...] to join (default: the public HyperDHT bootstrap nodes)")
    ("host", po::value<std::string>()->default_value("0.0.0.0"), "address to bind")
    ("port", po::value<unsigned>()->default_value(49737), "UDP port to bind (tries port..port+4, then any)")
    ("testnet", po::value<unsigned>(), "start an embedded testnet of N nodes on 127.0.0.1 and join it");
  // clang-format on
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, opts), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "hyperdhtd: " << e.what() << "\nTry 'hyperdhtd --help'.\n";
    return 2;
  }
  if (vm.count("version")) {
    std::cout << hdht::version_string() << "\n";
    return 0;
  }
  std::cout << hdht::version_string() << "\n\nUsage: hyperdhtd [options]\n\n" << opts << "\n";
  if (vm.count("help")) return 0;
  std::cerr << "hyperdhtd: the node engine is not built yet (see the open issues); showing help only.\n";
  return 0;
}
