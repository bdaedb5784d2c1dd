#include "core/congestion_window.hpp"

#include <catch2/catch.hpp>

using hdht::dht::CongestionWindow;

TEST_CASE("congestion window: full at max_window per slot", "[unit][io]") {
  CongestionWindow w(3);
  CHECK_FALSE(w.is_full());
  w.send();
  w.send();
  CHECK_FALSE(w.is_full());
  w.send();
  CHECK(w.is_full());
  CHECK(w.total() == 3);
  w.recv();  // a response credits the current slot
  CHECK_FALSE(w.is_full());
  CHECK(w.total() == 2);
}

TEST_CASE("congestion window: full at 2 * max_window over the four slots", "[unit][io]") {
  CongestionWindow w(4);
  for (int i = 0; i < 3; ++i)
    w.send();  // slot 0: 3
  w.drain();
  for (int i = 0; i < 3; ++i)
    w.send();  // slot 1: 3
  w.drain();
  CHECK_FALSE(w.is_full());
  w.send();
  w.send();  // slot 2: 2, total 8 == 2 * 4
  CHECK(w.total() == 8);
  CHECK(w.is_full());
  w.drain();  // slot 3 was empty: nothing forgotten
  CHECK(w.is_full());
  w.drain();  // back to slot 0: its 3 are forgotten
  CHECK(w.total() == 5);
  CHECK_FALSE(w.is_full());
}

TEST_CASE("congestion window: recv only credits a non-empty current slot", "[unit][io]") {
  CongestionWindow w(2);
  w.send();
  w.send();
  w.drain();
  CHECK(w.total() == 2);
  w.recv();  // current slot is empty: the reference ignores it
  CHECK(w.total() == 2);
  w.send();
  w.recv();
  CHECK(w.total() == 2);
  w.clear();
  CHECK(w.total() == 0);
  CHECK_FALSE(w.is_full());
}

TEST_CASE("congestion window: drain forgets the oldest slot after four drains", "[unit][io]") {
  CongestionWindow w(80);
  for (int i = 0; i < 80; ++i)
    w.send();
  CHECK(w.is_full());
  w.drain();
  CHECK_FALSE(w.is_full());
  CHECK(w.total() == 80);
  w.drain();
  w.drain();
  CHECK(w.total() == 80);
  w.drain();
  CHECK(w.total() == 0);
}
