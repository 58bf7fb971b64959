//! The port contract, run against the memory store.

use omni_store_memory::contract::Ports;

async fn fresh() -> Ports {
    Ports::memory()
}

omni_store_memory::port_contract_tests!(fresh());
