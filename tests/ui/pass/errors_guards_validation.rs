// What issue-sized applications write: their own error types converted with `?`, boxed and
// anyhow errors, guards on the block and on handlers, validated payloads, custom claims.
use serde::Deserialize;
use venta_ws::guard::{Guard, GuardContext, HasRoles, Roles};
use venta_ws::prelude::*;
use venta_ws::validate::Valid;
use venta_ws::SocketOf;

/// A domain error that is a `std::error::Error` and still converts as the application says.
#[derive(Debug)]
enum OrderError {
    Missing(u64),
    Store(std::io::Error),
}

impl std::fmt::Display for OrderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Missing(id) => write!(f, "order {id} does not exist"),
            Self::Store(error) => write!(f, "order store: {error}"),
        }
    }
}

impl std::error::Error for OrderError {}

impl From<OrderError> for GatewayError {
    fn from(error: OrderError) -> Self {
        match error {
            OrderError::Missing(_) => GatewayError::not_found(error.to_string()),
            OrderError::Store(_) => GatewayError::internal(error),
        }
    }
}

#[derive(Deserialize)]
struct RiderClaims {
    sub: String,
    role: String,
}

impl HasRoles for RiderClaims {
    fn has_role(&self, role: &str) -> bool {
        self.role == role
    }
}

#[derive(Deserialize, garde::Validate)]
struct JoinOrder {
    #[garde(range(min = 1))]
    order_id: u64,
}

/// Only the rider an order is assigned to may join its room.
struct AssignedRider;

impl Guard<RiderClaims, JoinOrder> for AssignedRider {
    async fn check(&self, ctx: GuardContext<'_, RiderClaims, JoinOrder>) -> Result<(), GatewayError> {
        if ctx.claims().sub == format!("rider-{}", ctx.payload().order_id) {
            Ok(())
        } else {
            Err(GatewayError::forbidden("this order is assigned to another rider"))
        }
    }
}

fn find(order_id: u64) -> Result<u64, OrderError> {
    if order_id == 0 { Err(OrderError::Missing(order_id)) } else { Ok(order_id) }
}

#[derive(WebSocketGateway)]
#[gateway(namespace = "rider", auth = Jwt<RiderClaims>)]
struct RiderGateway;

#[venta_ws::messages]
#[guard(Roles::any(&["rider", "admin"]))]
impl RiderGateway {
    async fn on_connect(&self, socket: &AuthenticatedSocket<RiderClaims>) -> Result<(), OrderError> {
        let _ = socket.claims().sub.len();
        Ok(())
    }

    #[subscribe("order.join")]
    #[guard(AssignedRider)]
    async fn join(&self, socket: &SocketOf<Self>, order: Valid<JoinOrder>) -> Result<Ack<u64>, GatewayError> {
        socket.join(&format!("order:{}", order.order_id));
        Ok(Ack(find(order.order_id)?))
    }

    #[subscribe("order.find")]
    async fn find(&self, order_id: u64) -> Result<Ack<u64>, OrderError> {
        find(order_id).map(Ack)
    }

    #[subscribe("order.read")]
    async fn read(&self) -> Result<Ack<usize>, GatewayError> {
        Ok(Ack(std::fs::read("/dev/null").map_err(OrderError::Store)?.len() + std::fs::read("/dev/null")?.len()))
    }

    #[subscribe("boxed")]
    async fn boxed(&self) -> Result<Ack, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Ack(()))
    }

    #[subscribe("anyhow")]
    async fn anyhow(&self, n: u32) -> anyhow::Result<Ack<u32>> {
        anyhow::ensure!(n > 0, "n must be positive");
        Ok(Ack(n))
    }

    #[subscribe("admin.only")]
    #[guard(Roles::any(&["admin"]))]
    #[guard(Roles::any(&["admin"]))]
    async fn admin(&self) {}
}

fn main() {}
