mod chart_history;
mod chart_select;
mod component;
mod error;
mod facts;
mod hop_values;
mod plan;
mod version;
mod warnings;

fn main() {
    println!("helm-milvus-upgrade");
}
